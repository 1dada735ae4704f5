"""Concerns (诉求/问题). A concern is first captured in a visit; the ledger tracks its lifecycle."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from server.clock import utcnow


class ConcernCategory(StrEnum):
    problem = "problem"
    request = "request"
    petition = "petition"
    suggestion = "suggestion"


CONCERN_CATEGORY_LABELS = {
    ConcernCategory.problem: "问题类",
    ConcernCategory.request: "诉求类",
    ConcernCategory.petition: "信访类",
    ConcernCategory.suggestion: "建议类",
}


class ConcernState(StrEnum):
    registered = "registered"
    accepted = "accepted"
    assigned = "assigned"
    in_progress = "in_progress"
    pending_review = "pending_review"
    closed = "closed"


CONCERN_STATE_LABELS = {
    ConcernState.registered: "登记",
    ConcernState.accepted: "受理",
    ConcernState.assigned: "交办",
    ConcernState.in_progress: "办理中",
    ConcernState.pending_review: "办结待核",
    ConcernState.closed: "销号",
}


class Concern(SQLModel, table=True):
    """诉求 / 问题: something a resident raised."""

    __tablename__ = "concern"
    __table_args__ = (Index("ix_concern_unit_state", "org_unit_id", "state"),)

    id: int | None = Field(default=None, primary_key=True)
    uuid: str = Field(max_length=36, unique=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    target_id: int = Field(foreign_key="target.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id")
    raised_by_id: int = Field(foreign_key="user_account.id")
    text: str
    category: str = Field(default=ConcernCategory.problem, max_length=20)
    state: str = Field(default=ConcernState.registered, max_length=20)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
