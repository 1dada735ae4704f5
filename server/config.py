"""Settings read from ``MINQING_*`` environment variables (see README "Configuration")."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MINQING_{name}", default)


def _float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw not in (None, "") else default


def _bool(name: str, default: bool) -> bool:
    raw = _env(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    media_dir: Path
    secret_key: str
    demo_mode: bool
    timezone: str = "Asia/Shanghai"
    tile_url: str = ""
    tile_attribution: str = ""
    geocoder_url: str = ""
    checkin_radius_m: dict[str, float] = field(default_factory=dict)
    max_photo_bytes: int = 20 * 1024 * 1024
    max_photo_pixels: int = 50_000_000
    login_failures_per_minute: int = 5
    session_days: int = 14
    cookie_secure: bool = False
    db_pool_size: int = 10  # PostgreSQL connections kept per process; 0 = no pool (behind PgBouncer)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _secret_key(data_dir: Path) -> str:
    """Use MINQING_SECRET_KEY, else a key generated once and kept in the data dir."""
    if key := _env("SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings() -> Settings:
    data_dir = Path(_env("DATA_DIR", str(ROOT / "data")) or "data").resolve()
    database_url = _env("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'minqing.db'}"
    media_dir = Path(_env("MEDIA_DIR") or str(data_dir / "media")).resolve()
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        media_dir=media_dir,
        secret_key=_secret_key(data_dir),
        demo_mode=_bool("DEMO_MODE", True),
        timezone=_env("TIMEZONE", "Asia/Shanghai") or "Asia/Shanghai",
        tile_url=_env("TILE_URL", "") or "",
        tile_attribution=_env("TILE_ATTRIBUTION", "") or "",
        geocoder_url=_env("GEOCODER_URL", "") or "",
        checkin_radius_m={
            "village": _float("RADIUS_VILLAGE_M", 1000.0),
            "enterprise": _float("RADIUS_ENTERPRISE_M", 300.0),
            "project": _float("RADIUS_PROJECT_M", 500.0),
            "household": _float("RADIUS_HOUSEHOLD_M", 200.0),
            "driver": _float("RADIUS_DRIVER_M", 0.0),
        },
        max_photo_bytes=int(_float("MAX_PHOTO_MB", 20) * 1024 * 1024),
        login_failures_per_minute=int(_float("LOGIN_FAILURES_PER_MINUTE", 5)),
        cookie_secure=_bool("COOKIE_SECURE", False),
        db_pool_size=int(_float("DB_POOL_SIZE", 10)),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between apps)."""
    get_settings.cache_clear()
