"""coverage: covering index (visited_at, lat, lon, target_id, user_id) on visit for window scans (扎堆, map)

Revision ID: coverage_0002
Revises: coverage_0001
Create Date: 2026-11-26 16:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "coverage_0002"
down_revision: str | Sequence[str] | None = "coverage_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_visit_window", "visit", ["visited_at", "lat", "lon", "target_id", "user_id"])


def downgrade() -> None:
    op.drop_index("ix_visit_window", table_name="visit")
