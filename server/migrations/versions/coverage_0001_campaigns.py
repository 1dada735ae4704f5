"""coverage: campaigns, phases, coverage rules; covering indexes on visit and checkin for coverage

Revision ID: coverage_0001
Revises: 0001_core
Create Date: 2026-11-26 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "coverage_0001"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("coverage",)
depends_on: str | Sequence[str] | None = None

String = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", String(length=100), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_unit_id"], ["org_unit.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_org_unit_id", "campaign", ["org_unit_id"])
    op.create_table(
        "campaign_phase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", String(length=50), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_campaign_phase_campaign_id", "campaign_phase", ["campaign_id"])
    op.create_table(
        "coverage_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", String(length=200), nullable=False),
        sa.Column("metric", String(length=20), nullable=False),
        sa.Column("target_kind", String(length=20), nullable=False),
        sa.Column("target_filter", String(length=20), nullable=False),
        sa.Column("who", String(length=20), nullable=False),
        sa.Column("period", String(length=10), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("max_count", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_coverage_rule_campaign_id", "coverage_rule", ["campaign_id"])
    # Covering indexes for the coverage aggregates (see server/coverage/models.py).
    op.create_index("ix_visit_target_time_user", "visit", ["target_id", "visited_at", "user_id"])
    op.create_index("ix_checkin_target_time", "checkin", ["target_id", "device_time"])


def downgrade() -> None:
    op.drop_index("ix_checkin_target_time", table_name="checkin")
    op.drop_index("ix_visit_target_time_user", table_name="visit")
    op.drop_table("coverage_rule")
    op.drop_table("campaign_phase")
    op.drop_table("campaign")
