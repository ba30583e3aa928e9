"""Seed files: the YAML (or JSON) that ``openbcs apply``, ``serve --seed`` and ``POST /openbcs/admin/apply`` read,
parsed with the line of every value so that each complaint names the line it is about."""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openbcs.kernel.validation import field_path

Path = tuple[int | str, ...]


class SeedError(ValueError):
    """A seed file that cannot be applied: ``FILE:LINE: what is wrong``."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccessKeySpec(_Strict):
    access_key: str = Field(pattern=r"^[A-Z0-9]{20}$", description="20 upper-case letters or digits")
    secret_key: str = Field(pattern=r"^[A-Za-z0-9]{40}$", description="40 letters or digits")


class InviteeOf(_Strict):
    account: str
    instance: str


class InstanceSpec(BaseModel):
    """An instance: CreateNewBlockchain's body fields (omitted ones take :data:`INSTANCE_DEFAULTS`), and for an
    invitee instance ``invitee_of`` (the inviter's account and instance names) instead of ``invitor_infos``."""

    model_config = ConfigDict(extra="allow")
    name: str
    invitee_of: InviteeOf | None = None


class AccountSpec(_Strict):
    name: str
    password: str
    access_keys: list[AccessKeySpec] = []
    quota: int | None = Field(default=None, ge=0, le=1000)
    instances: list[InstanceSpec] = []


class InvitationSpec(_Strict):
    inviter: str = Field(description="the inviter's account name")
    instance: str = Field(description="the inviter's consortium instance")
    channel: str
    invitee: str = Field(description="the invited account's name")
    status: Literal["waiting", "reject", "joined"] = "waiting"
    invitee_instance: str | None = Field(default=None, description="the invitee's instance that joins (joined)")
    orgs: list[str] | None = Field(default=None, description="its organisations that join; default all")


class SeedFile(_Strict):
    accounts: list[AccountSpec] = []
    invitations: list[InvitationSpec] = []


class Located:
    """A parsed seed file and the line of every value in it."""

    def __init__(self, source: str, spec: SeedFile, lines: dict[Path, int]) -> None:
        self.source = source
        self.spec = spec
        self.lines = lines

    def line(self, path: Path) -> int:
        """The line of the value at ``path``, or of its nearest enclosing value."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: Path, message: str) -> SeedError:
        """A :class:`SeedError` about the value at ``path``."""
        return SeedError(f"{self.source}:{self.line(path)}: {message}")


def _lines(node: yaml.Node, path: Path, into: dict[Path, int]) -> None:
    into[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, (*path, str(key.value)), into)
            into[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), into)


def parse(text: str, source: str) -> Located:
    """Parse a seed document; :class:`SeedError` naming the line of the first problem."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise SeedError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    lines: dict[Path, int] = {}
    if node is not None:
        _lines(node, (), lines)
    try:
        spec = SeedFile.model_validate(data or {}, strict=True)
    except ValidationError as exc:
        problem = exc.errors()[0]
        path = tuple(problem["loc"])
        located = Located(source, SeedFile(), lines)
        raise located.error(path, f"{field_path(path)}: {problem['msg']}") from exc
    return Located(source, spec, lines)
