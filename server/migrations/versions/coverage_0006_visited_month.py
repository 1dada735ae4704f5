"""coverage: ``visited_month``, the targets visited in each local month, kept by triggers

The space pass of a month's report probed the visit index once per target (≈ 150k probes, 110–260 ms
on the county). This table holds one row per (local month, target) with a visit, keyed for the report
by ``(month, org_unit_id, kind, target_id)``: a month's covered households of a unit are one index range.
Triggers keep it on every write path (the field form, the sync's bulk insert, imports, the demo and
bench generators alike): a visit inserted, deleted or moved, and a target moved to another unit or kind.
``month`` is ``yyyymm`` of the visit's Asia/Shanghai time (``server.clock``: UTC+8, no daylight saving).

Revision ID: coverage_0006
Revises: coverage_0005
Create Date: 2026-12-03 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "coverage_0006"
down_revision: str | Sequence[str] | None = "coverage_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _month(column: str, dialect: str) -> str:
    if dialect == "sqlite":  # naive UTC text, as SQLAlchemy stores it
        return f"CAST(strftime('%Y%m', {column}, '+8 hours') AS INTEGER)"
    return f"CAST(to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYYMM') AS INTEGER)"


def _month_bounds(column: str, dialect: str) -> tuple[str, str]:
    """The UTC instants [start, end) of the local month of ``column``, comparable with the stored values."""
    if dialect == "sqlite":
        local = f"strftime('%Y-%m-%d %H:%M:%f', {column}, '+8 hours', 'start of month'"
        return f"{local}, '-8 hours')", f"{local}, '+1 month', '-8 hours')"
    local = f"date_trunc('month', {column} AT TIME ZONE 'Asia/Shanghai')"
    return f"({local} AT TIME ZONE 'Asia/Shanghai')", f"(({local} + interval '1 month') AT TIME ZONE 'Asia/Shanghai')"


def _statements(dialect: str) -> dict[str, str]:
    """The triggers' bodies: add a visit's (month, target) row, drop it when the target's last visit of
    that month is gone, follow a target to its new unit or kind."""
    month = _month("{v}.visited_at", dialect)
    start, end = _month_bounds("{v}.visited_at", dialect)
    conflict = "ON CONFLICT DO NOTHING"
    return {
        "add": f"""INSERT INTO visited_month (month, org_unit_id, kind, target_id)
                   SELECT {month.format(v="NEW")}, t.org_unit_id, t.kind, t.id FROM target t WHERE t.id = NEW.target_id
                   {conflict}""",
        "drop": f"""DELETE FROM visited_month WHERE target_id = OLD.target_id AND month = {month.format(v="OLD")}
                    AND NOT EXISTS (SELECT 1 FROM visit o WHERE o.target_id = OLD.target_id
                                    AND o.visited_at >= {start.format(v="OLD")}
                                    AND o.visited_at < {end.format(v="OLD")})""",
        "follow": "UPDATE visited_month SET org_unit_id = NEW.org_unit_id, kind = NEW.kind WHERE target_id = NEW.id",
        "backfill": f"""INSERT INTO visited_month (month, org_unit_id, kind, target_id)
                        SELECT DISTINCT {month.format(v="v")}, t.org_unit_id, t.kind, t.id
                        FROM visit v JOIN target t ON t.id = v.target_id""",
    }


_TRIGGERS = (  # name, event, table, the statements it runs
    ("visited_month_add", "INSERT", "visit", ("add",)),
    ("visited_month_drop", "DELETE", "visit", ("drop",)),
    ("visited_month_move", "UPDATE OF target_id, visited_at", "visit", ("drop", "add")),
    ("visited_month_follow", "UPDATE OF org_unit_id, kind", "target", ("follow",)),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "visited_month",
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("target_id", sa.Integer(), sa.ForeignKey("target.id"), nullable=False),
        sa.PrimaryKeyConstraint("month", "org_unit_id", "kind", "target_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_visited_month_target", "visited_month", ["target_id", "month"])
    sql = _statements(dialect)
    op.execute(sql["backfill"])
    for name, event, table, body in _TRIGGERS:
        statements = "; ".join(sql[part] for part in body)
        if dialect == "sqlite":
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {statements}; END")
        else:
            body_sql = f"BEGIN {statements}; RETURN NULL; END"
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body_sql} $$")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, _event, table, _body in _TRIGGERS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_visited_month_target", table_name="visited_month")
    op.drop_table("visited_month")
