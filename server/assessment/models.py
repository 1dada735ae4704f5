"""Assessment weights (考核权重), set per org unit; a unit without its own row uses its nearest ancestor's."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from server.clock import utcnow


class AssessmentConfig(SQLModel, table=True):
    __tablename__ = "assessment_config"

    id: int | None = Field(default=None, primary_key=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", unique=True)
    w_diary: float = 20
    w_quota: float = 30
    w_concerns: float = 20
    w_satisfaction: float = 15
    w_integrity: float = 15
    flag_penalty: float = 0.2  # share of the integrity part lost per confirmed flag or 不属实 spot check
    updated_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)
