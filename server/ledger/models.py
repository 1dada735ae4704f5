"""Concerns (诉求/问题). A concern is first captured in a visit; the ledger tracks its lifecycle."""

from __future__ import annotations

from datetime import date, datetime
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
    # Added by the ledger migration (all nullable or defaulted: visits and the demo create bare concerns).
    source: str = Field(default="visit", max_length=20)  # visit | meeting | direct
    meeting_id: int | None = Field(default=None, foreign_key="village_meeting.id", index=True)
    domain: str | None = Field(default=None, max_length=20)
    level: str | None = Field(default=None, max_length=20)  # handling level
    urgency: str = Field(default="normal", max_length=10)
    owner_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    deadline: date | None = None  # local calendar day by which it must be handled
    progress: str | None = None  # latest progress note
    urged_at: datetime | None = None  # 催办 mark (overdue)
    escalated_unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    escalated_at: datetime | None = None
    close_reason: str | None = Field(default=None, max_length=20)
    close_detail: str | None = None  # plan with dates / policy explanation / receiving body
    merged_into_id: int | None = Field(default=None, foreign_key="concern.id")
    closed_at: datetime | None = None
    feedback: str | None = None  # result told to the resident
    feedback_at: datetime | None = None
    rating: str | None = Field(default=None, max_length=20)
    rated_at: datetime | None = None
    reopen_count: int = Field(default=0)
    photos_public: bool = Field(default=False)


DOMAIN_LABELS = {
    "industry": "产业发展",
    "livelihood": "民生保障",
    "governance": "基层治理",
    "infrastructure": "基础设施",
    "conduct": "干部作风",
    "other": "其他",
}

LEVEL_LABELS = {
    "village": "村级自办",
    "village_major": "村级公共重大事项（四议两公开）",
    "higher": "需上级协调",
}

URGENCY_LABELS = {"normal": "一般", "urgent": "紧急"}

CLOSE_REASON_LABELS = {
    "solved": "已解决",
    "stepwise": "承诺分步解决",
    "policy": "政策解释",
    "transferred": "转办",
    "duplicate": "重复",
}

RATING_LABELS = {
    "satisfied": "满意",
    "basic": "基本满意",
    "partial": "部分解决",
    "unsatisfied": "不满意",
}

SOURCE_LABELS = {"visit": "走访", "meeting": "党群说事会", "direct": "直接登记"}


class ConcernEvent(SQLModel, table=True):
    """One entry of a concern's timeline: every state change and every action, with who, when and why."""

    __tablename__ = "concern_event"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")  # None: resident or system
    actor_label: str = Field(default="", max_length=50)  # "群众评价", "系统" when no account acted
    action: str = Field(max_length=20)
    from_state: str = Field(max_length=20)
    to_state: str = Field(max_length=20)
    note: str = ""


class ExtensionRequest(SQLModel, table=True):
    """申请延期: asked for before the deadline, with a reason; a leader approves or rejects it."""

    __tablename__ = "concern_extension"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    requested_by_id: int = Field(foreign_key="user_account.id")
    requested_at: datetime = Field(default_factory=utcnow)
    old_deadline: date
    new_deadline: date
    reason: str
    decision: str = Field(default="pending", max_length=10)  # pending | approved | rejected
    decided_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    decided_at: datetime | None = None


class DeadlineRule(SQLModel, table=True):
    """时限规则: working days allowed per category and urgency (defaults in ``deadlines.DEFAULT_RULES``)."""

    __tablename__ = "deadline_rule"
    __table_args__ = (Index("ux_deadline_rule", "category", "urgency", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=20)
    urgency: str = Field(max_length=10)
    working_days: int


class CalendarDay(SQLModel, table=True):
    """A holiday on a weekday (``workday=False``) or a make-up working day on a weekend (调休, ``True``)."""

    __tablename__ = "work_calendar"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(unique=True)
    workday: bool = Field(default=False)
    name: str = Field(default="", max_length=50)


class RatingToken(SQLModel, table=True):
    """A one-time link for a resident to rate a closed concern or a visit. Only the SHA-256 is kept."""

    __tablename__ = "rating_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    created_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class Rating(SQLModel, table=True):
    """群众评价 / 评议打分: a resident's rating of a concern's outcome or of a visit; feeds assessment."""

    __tablename__ = "rating"

    id: int | None = Field(default=None, primary_key=True)
    token_id: int | None = Field(default=None, foreign_key="rating_token.id", unique=True)
    concern_id: int | None = Field(default=None, foreign_key="concern.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="visit.id", index=True)
    cadre_id: int = Field(foreign_key="user_account.id", index=True)  # whose work is rated
    org_unit_id: int = Field(foreign_key="org_unit.id")
    score: str = Field(max_length=20)
    comment: str = ""
    at: datetime = Field(default_factory=utcnow, index=True)


class VillageMeeting(SQLModel, table=True):
    """党群说事会 (说·问·办·评): the monthly village meeting. Its items are concerns with ``meeting_id``."""

    __tablename__ = "village_meeting"

    id: int | None = Field(default=None, primary_key=True)
    village_id: int = Field(foreign_key="target.id", index=True)  # the village target
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    held_on: date
    host: str = Field(max_length=50)
    place: str = Field(default="", max_length=100)
    notes: str = ""
    residents_count: int = Field(default=0)
    created_by_id: int = Field(foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)


class MeetingAttendee(SQLModel, table=True):
    """Who attended; ``is_leader`` marks 包村领导列席 (counts toward "at least 4 a year")."""

    __tablename__ = "meeting_attendee"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="village_meeting.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    name: str = Field(max_length=50)
    is_leader: bool = Field(default=False)


class LookBack(SQLModel, table=True):
    """回头看: a supervisor samples a closed concern and records what they found."""

    __tablename__ = "look_back"

    id: int | None = Field(default=None, primary_key=True)
    concern_id: int = Field(foreign_key="concern.id", index=True)
    supervisor_id: int = Field(foreign_key="user_account.id")
    sampled_at: datetime = Field(default_factory=utcnow)
    result: str | None = Field(default=None, max_length=20)  # confirmed | problem
    finding: str = ""
    checked_at: datetime | None = None
