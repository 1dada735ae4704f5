"""coverage: place-first indexes (lat, lon, time) on visit and checkin for small map boxes

Revision ID: coverage_0003
Revises: coverage_0002
Create Date: 2026-11-26 17:25:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "coverage_0003"
down_revision: str | Sequence[str] | None = "coverage_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_visit_place", "visit", ["lat", "lon", "visited_at"])
    op.create_index("ix_checkin_place", "checkin", ["lat", "lon", "device_time"])


def downgrade() -> None:
    op.drop_index("ix_checkin_place", table_name="checkin")
    op.drop_index("ix_visit_place", table_name="visit")
