"""Passwords, logins (with a rate limit kept in the database), session tokens and the org tree."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from server.accounts.models import ROLE_LABELS, AuthSession, LoginAttempt, OrgUnit, Role, User
from server.clock import utcnow
from server.errors import AppError, NotFound

_hasher = PasswordHasher()
# Hashes a fixed password once, so unknown usernames cost as much time as wrong passwords.
_DUMMY_HASH = _hasher.hash("minqing-timing-equaliser")
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Viewer:
    """The logged-in person as every request sees them; data is scoped to ``unit_path``."""

    id: int
    username: str
    display_name: str
    role: str
    unit_id: int
    unit_path: str
    unit_name: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(Role(self.role), self.role)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles or self.role == Role.admin


class TooManyAttempts(AppError):
    status_code = 429


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _recent_failures(db: AsyncSession, username: str, ip: str) -> tuple[int, int]:
    since = utcnow() - timedelta(minutes=1)
    by_user = await db.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.username == username, LoginAttempt.at >= since)
    )
    by_ip = await db.scalar(
        select(func.count()).select_from(LoginAttempt).where(LoginAttempt.ip == ip, LoginAttempt.at >= since)
    )
    return int(by_user or 0), int(by_ip or 0)


async def authenticate(db: AsyncSession, username: str, password: str, ip: str, limit: int) -> User:
    """Check a username and password. Failures are counted per account and per IP in the last minute."""
    username = (username or "").strip()
    if not username or not password:
        raise AppError("请输入用户名和密码。", 400)
    by_user, by_ip = await _recent_failures(db, username, ip)
    if by_user >= limit or by_ip >= limit * 4:
        raise TooManyAttempts("登录失败次数过多，请 1 分钟后再试。")
    user = await db.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not user or not ok or not user.is_active:
        db.add(LoginAttempt(username=username[:50], ip=ip[:64]))
        await db.commit()
        raise AppError("用户名或密码不正确，请重新输入。", 401)
    await db.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    return user


async def start_session(db: AsyncSession, user: User, kind: str, days: int) -> str:
    """Create a login (cookie or bearer) and return its secret; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    db.add(
        AuthSession(
            token_hash=token_hash(token),
            user_id=user.id,  # type: ignore[arg-type]
            kind=kind,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    await db.execute(delete(AuthSession).where(AuthSession.expires_at < utcnow()))
    await db.commit()
    return token


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(delete(AuthSession).where(AuthSession.token_hash == token_hash(token)))
    await db.commit()


async def viewer_for_token(db: AsyncSession, token: str, kind: str) -> Viewer | None:
    row = (
        await db.execute(
            select(User, OrgUnit)
            .join(AuthSession, AuthSession.user_id == User.id)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(
                AuthSession.token_hash == token_hash(token),
                AuthSession.kind == kind,
                AuthSession.expires_at > utcnow(),
                User.is_active.is_(True),  # type: ignore[attr-defined]
            )
        )
    ).first()
    if row is None:
        return None
    return viewer_of(*row)


def viewer_of(user: User, unit: OrgUnit) -> Viewer:
    return Viewer(
        id=user.id,  # type: ignore[arg-type]
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        unit_id=unit.id,  # type: ignore[arg-type]
        unit_path=unit.path,
        unit_name=unit.name,
    )


async def create_unit(
    db: AsyncSession, name: str, kind: str, parent: OrgUnit | None, code: str | None = None
) -> OrgUnit:
    """Add an org unit under ``parent`` and fill its materialised path (caller commits)."""
    unit = OrgUnit(name=name, kind=kind, parent_id=parent.id if parent else None, code=code)
    db.add(unit)
    await db.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await db.flush()
    return unit


async def create_user(
    db: AsyncSession, username: str, password: str, role: str, unit: OrgUnit, display_name: str | None = None
) -> User:
    """Add a user (caller commits). Refuses weak passwords and taken usernames with a clear message."""
    if role not in Role.__members__:
        raise AppError(f"未知角色“{role}”，可选：cadre、leader、supervisor、admin。")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(f"密码至少 {MIN_PASSWORD_LENGTH} 位。")
    if await db.scalar(select(User.id).where(User.username == username)):
        raise AppError(f"用户名“{username}”已存在。", 409)
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        org_unit_id=unit.id,  # type: ignore[arg-type]
        password_hash=hash_password(password),
    )
    db.add(user)
    await db.flush()
    return user


async def find_unit(db: AsyncSession, name_or_code: str) -> OrgUnit:
    unit = await db.scalar(
        select(OrgUnit).where((OrgUnit.code == name_or_code) | (OrgUnit.name == name_or_code)).limit(1)
    )
    if unit is None:
        raise AppError(f"找不到单位“{name_or_code}”，请填写单位名称或编码。", 404)
    return unit


async def units_in_scope(db: AsyncSession, viewer: Viewer) -> list[OrgUnit]:
    rows = await db.scalars(
        select(OrgUnit).where(OrgUnit.path.startswith(viewer.unit_path)).order_by(OrgUnit.path)  # type: ignore[attr-defined]
    )
    return list(rows)


async def unit_in_scope(db: AsyncSession, viewer: Viewer, unit_id: int | None) -> OrgUnit:
    """The viewer's own unit, or ``unit_id`` when it lies in the viewer's subtree (else 404)."""
    unit = await db.get(OrgUnit, unit_id if unit_id is not None else viewer.unit_id)
    if unit is None or not unit.path.startswith(viewer.unit_path):
        raise NotFound("找不到该单位，或它不在您的管辖范围内。")
    return unit


async def person_in_scope(db: AsyncSession, viewer: Viewer, user_id: int) -> tuple[User, OrgUnit]:
    """A user whose unit lies in the viewer's subtree, with that unit (else 404)."""
    row = (
        await db.execute(
            select(User, OrgUnit)
            .join(OrgUnit, OrgUnit.id == User.org_unit_id)
            .where(User.id == user_id, OrgUnit.path.startswith(viewer.unit_path))  # type: ignore[attr-defined]
        )
    ).first()
    if row is None:
        raise NotFound("找不到该人员，或其不在您的管辖范围内。")
    return row[0], row[1]


def in_scope(viewer: Viewer, unit_path: str) -> bool:
    return unit_path.startswith(viewer.unit_path)
