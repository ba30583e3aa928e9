"""The seeded states the scripts share: a fresh migrated database, a reading tenant with its records and members,
and joined memberships to quit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, select

from bench.harness import BenchError
from bench.seed_network import Membership, NetworkSeeder
from bench.seeding import Tenant
from openbcs import migrations
from openbcs.consortium import states
from openbcs.kernel.db import Database
from openbcs.kernel.keys import ServerKey, load_server_key
from openbcs.kernel.settings import Settings
from openbcs.network import config_history
from openbcs.network.models import Channel

# The reading tenant's invitations as inviter, then its notifications as invitee (6 joined members, 2 waiting, 1
# rejected, 1 quit; member of 3 consortia, 2 invitations waiting, 1 rejected).
AS_INVITER = (*[states.JOINED] * 6, states.WAITING, states.WAITING, states.REJECT, states.QUIT)
AS_INVITEE = (*[states.JOINED] * 3, states.WAITING, states.WAITING, states.REJECT)
PRIVATE_INSTANCES = 3


@dataclass
class Store:
    """A migrated database with its settings and server key."""

    settings: Settings
    db: Database
    server_key: ServerKey

    @property
    def sqlite_path(self) -> Path | None:
        url = self.settings.resolved_database_url
        return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None

    def floor_database(self) -> str:
        """What the floor app connects to: the SQLite file, or the PostgreSQL URL in psycopg's form."""
        path = self.sqlite_path
        return (
            str(path) if path else self.settings.resolved_database_url.replace("postgresql+psycopg://", "postgresql://")
        )


def create_store(data_dir: Path, database_url: str | None = None) -> Store:
    """A data directory with its server key and a migrated, empty database (a given one must hold no tables)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    db = Database(settings.resolved_database_url)
    if database_url and inspect(db.engine).get_table_names():
        raise BenchError(f"{db.engine.url.render_as_string()} is not empty: give the bench a throwaway database")
    migrations.upgrade(db)
    return Store(settings, db, load_server_key(settings))


@dataclass
class Reader:
    """The reading tenant and what its reads answer."""

    tenant: Tenant
    peers: list[Tenant]
    records: int  # ListOpRecord's count
    members: int  # ListMembers' length


def seed_reader(store: Store, *, prefix: str = "reader") -> Reader:
    """A tenant with 10 operation records (4 instances created, 3 consortia joined, 3 private instances) and 13
    members (10 invitations as inviter, 3 consortia as invitee), among 13 other tenants with their own rows."""
    started = time.monotonic()
    seeder = NetworkSeeder(store.db, store.server_key)
    tenant, *peers = seeder.accounts([f"{prefix}-tenant", *(f"{prefix}-peer-{i:02d}" for i in range(13))])
    _own, channel = seeder.instance(tenant)
    assert channel is not None
    for peer, status in zip(peers, AS_INVITER, strict=False):
        seeder.invitation(channel, peer, status)
    for i, status in enumerate(AS_INVITEE):
        _inviter, theirs = seeder.instance(peers[10 + i % 3])
        assert theirs is not None
        seeder.invitation(theirs, tenant, status)
    for _ in range(PRIVATE_INSTANCES):
        seeder.instance(tenant)
    rows = seeder.flush()
    joined_as_invitee = AS_INVITEE.count(states.JOINED)
    reader = Reader(tenant, peers, 1 + 2 * joined_as_invitee + PRIVATE_INSTANCES, len(AS_INVITER) + joined_as_invitee)
    print(f"  seeded the reading tenant: {rows:,} rows in {time.monotonic() - started:.1f} s", flush=True)
    return reader


@dataclass
class Memberships:
    """Joined memberships, each with its own inviter instance (a quit holds the inviter instance until its
    operation ends, so two members of one instance would refuse each other's quits)."""

    inviters: list[Tenant]
    invitees: list[Tenant]
    joined: list[Membership]


def seed_memberships(
    store: Store, count: int, *, inviters: int = 4, invitees: int = 16, prefix: str = "quit"
) -> Memberships:
    """``count`` joined memberships between a few inviter and invitee accounts; one sample channel verified."""
    started = time.monotonic()
    seeder = NetworkSeeder(store.db, store.server_key)
    inviting = seeder.accounts([f"{prefix}-inviter-{i:02d}" for i in range(inviters)])
    invited = seeder.accounts([f"{prefix}-invitee-{i:02d}" for i in range(invitees)])
    joined = []
    for n in range(count):
        joined.append(seeder.membership(inviting[n % inviters], invited[n % invitees]))
        if len(seeder.rows["sub_steps"]) > 200_000:
            seeder.flush()
    rows = seeder.flush()
    print(f"  seeded {count:,} joined memberships in {time.monotonic() - started:.1f} s (last batch {rows:,} rows)")
    verify_channel(store, joined[0].inviter.id)
    return Memberships(inviting, invited, joined)


def verify_channel(store: Store, blockchain_id: str) -> None:
    """The seeded channel's configuration history verifies (``config_history.verify``, as ``channel verify``)."""
    with store.db.reading() as session:
        channel = session.scalars(select(Channel).where(Channel.blockchain_id == blockchain_id)).one()
        problems = config_history.verify(session, channel)
    if problems:
        raise BenchError(f"a seeded channel does not verify: {problems}")
