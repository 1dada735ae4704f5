"""coverage: drop the narrow indexes that the wider coverage indexes make redundant

``ix_visit_target_time (target_id, visited_at)`` is a prefix of ``ix_visit_target_time_user``,
``ix_visit_time_lat_lon (visited_at, lat, lon)`` of ``ix_visit_window``, and ``ix_checkin_target_id
(target_id)`` of ``ix_checkin_target_time``: every query (and every foreign-key check) that used one can
use the other, and each index a row must enter costs the sync path (bench/RESULTS.md §1: a batch of
100 visits is inserted ≈ 1.4× faster into the county's 2 M-row table without these two).

Revision ID: coverage_0004
Revises: coverage_0003
Create Date: 2026-11-27 04:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "coverage_0004"
down_revision: str | Sequence[str] | None = "coverage_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_visit_target_time", table_name="visit")
    op.drop_index("ix_visit_time_lat_lon", table_name="visit")
    op.drop_index("ix_checkin_target_id", table_name="checkin")


def downgrade() -> None:
    op.create_index("ix_checkin_target_id", "checkin", ["target_id"])
    op.create_index("ix_visit_time_lat_lon", "visit", ["visited_at", "lat", "lon"])
    op.create_index("ix_visit_target_time", "visit", ["target_id", "visited_at"])
