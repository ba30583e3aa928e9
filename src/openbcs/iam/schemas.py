"""Keystone v3 request/response models of the IAM endpoints OpenBCS serves."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, model_validator

from openbcs.kernel.validation import Text

# Request strings are Text: a name no database can store (a NUL byte) is a 400 naming the field, never a query.


class _Named(BaseModel):
    id: Text | None = Field(default=None, max_length=64)
    name: Text | None = Field(default=None, max_length=64)


class _PasswordUser(BaseModel):
    name: Text = Field(min_length=1, max_length=64)
    password: Text = Field(min_length=1, max_length=128)
    domain: _Named


class _Password(BaseModel):
    user: _PasswordUser


class _Identity(BaseModel):
    methods: list[Annotated[Text, Field(max_length=16)]] = Field(min_length=1, max_length=2)
    password: _Password | None = None

    @model_validator(mode="after")
    def _password_method(self) -> _Identity:
        if self.methods != ["password"] or self.password is None:
            raise ValueError('only the password method is supported: methods must be ["password"]')
        return self


class _Scope(BaseModel):
    project: _Named

    @model_validator(mode="after")
    def _named(self) -> _Scope:
        if not (self.project.id or self.project.name):
            raise ValueError("scope.project needs an id or a name")
        return self


class _Auth(BaseModel):
    identity: _Identity
    scope: _Scope


class TokenRequest(BaseModel):
    """``POST /v3/auth/tokens`` body (password method, project scope)."""

    auth: _Auth


class DomainRef(BaseModel):
    id: str
    name: str


class ProjectRef(BaseModel):
    id: str
    name: str
    domain: DomainRef


class UserRef(BaseModel):
    id: str
    name: str
    domain: DomainRef
    password_expires_at: str = ""


class RoleRef(BaseModel):
    id: str
    name: str


class Endpoint(BaseModel):
    id: str
    interface: str
    region: str
    region_id: str
    url: str


class CatalogEntry(BaseModel):
    id: str
    name: str
    type: str
    endpoints: list[Endpoint]


class TokenBody(BaseModel):
    expires_at: str
    issued_at: str
    methods: list[str]
    project: ProjectRef
    user: UserRef
    roles: list[RoleRef]
    catalog: list[CatalogEntry] | None = None


class TokenResponse(BaseModel):
    token: TokenBody


class ProjectInfo(BaseModel):
    id: str
    name: str
    domain_id: str
    parent_id: str
    enabled: bool = True
    is_domain: bool = False
    description: str = ""


class ProjectList(BaseModel):
    projects: list[ProjectInfo]
