import time, json
from sqlalchemy import select
from openbcs.monitoring.models import Event, Alarm
from openbcs.blockchains.models import Organization, Node
from tests.blockchains.helpers import create_instance

def test_scratch(client, tenant, db):
    t = time.monotonic()
    bid = create_instance(client, tenant.headers, tenant.project_id, peer_orgs=[{"name": "orga", "node_count": 2}, {"name": "orgb", "node_count": 1}])
    print("create", time.monotonic() - t)
    rows = db.run_read(lambda s: [(e.name, e.severity, e.message, e.metadata_, e.time) for e in s.scalars(select(Event).order_by(Event.id))])
    for r in rows: print(r)
    print(db.run_read(lambda s: [(o.id, o.name, o.role, o.pvc_name, [n.name for n in s.scalars(select(Node).where(Node.org_id==o.id))]) for o in s.scalars(select(Organization))]))
    r = client.post(f"{tenant.base}/blockchains/{bid}/events", headers=tenant.headers, json={"time_range": "-1.-1.10", "step": 60000})
    print(json.dumps(r.json(), indent=1)[:3000])
    r = client.post(f"{tenant.base}/blockchains/{bid}/metric/list", headers=tenant.headers, json={})
    print(json.dumps(r.json())[:1500])
    r = client.post(f"{tenant.base}/blockchains/{bid}/entity/metric/list", headers=tenant.headers, json={"type": "org"})
    print(json.dumps(r.json())[:1500])
    r = client.post(f"{tenant.base}/blockchains/{bid}/entity/metric/list", headers=tenant.headers, json={"type": "plugin"})
    print(json.dumps(r.json())[:1500])
