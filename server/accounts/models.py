"""Org tree and people. Data is scoped to the viewer's org unit subtree through ``OrgUnit.path``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from server.clock import utcnow


class Role(StrEnum):
    cadre = "cadre"
    leader = "leader"
    supervisor = "supervisor"
    admin = "admin"


ROLE_LABELS = {
    Role.cadre: "干部",
    Role.leader: "班子成员",
    Role.supervisor: "督导",
    Role.admin: "管理员",
}


class UnitKind(StrEnum):
    county = "county"
    bureau = "bureau"
    town = "town"
    section = "section"
    village = "village"


UNIT_KIND_LABELS = {
    UnitKind.county: "县",
    UnitKind.bureau: "局",
    UnitKind.town: "镇",
    UnitKind.section: "股室",
    UnitKind.village: "村",
}


class OrgUnit(SQLModel, table=True):
    """单位 / 组织: a node of the org tree. ``path`` is ``/1/5/23/`` (ids from the root)."""

    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    path: str = Field(default="/", max_length=255, index=True)
    code: str | None = Field(default=None, max_length=50, unique=True)


class User(SQLModel, table=True):
    """干部 / 班子成员 / 督导 / 管理员."""

    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=50, unique=True)
    display_name: str = Field(max_length=50)
    role: str = Field(max_length=20)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A login: a browser session cookie or a bearer token. Only the SHA-256 of the secret is kept."""

    __tablename__ = "auth_session"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    kind: str = Field(max_length=10)  # "cookie" | "bearer"
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class LoginAttempt(SQLModel, table=True):
    """Failed logins, counted per account and per IP for the rate limit (kept in the database)."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=50, index=True)
    ip: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, index=True)
