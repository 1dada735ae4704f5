"""Imports every capability's models so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from server.accounts.models import AuthSession, LoginAttempt, OrgUnit, User
from server.assessment.models import AssessmentConfig
from server.coverage.models import Campaign, CoverageRule, Phase
from server.diary.models import DiaryNote
from server.integrity.models import IntegrityFlag, SpotCheck, SpotCheckRun
from server.ledger.models import (
    CalendarDay,
    Concern,
    ConcernEvent,
    DeadlineRule,
    ExtensionRequest,
    LookBack,
    MeetingAttendee,
    Rating,
    RatingToken,
    VillageMeeting,
)
from server.places.models import Assignment, Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto

__all__ = [
    "AssessmentConfig",
    "IntegrityFlag",
    "SpotCheck",
    "SpotCheckRun",
    "Assignment",
    "Campaign",
    "CoverageRule",
    "Phase",
    "AuthSession",
    "CalendarDay",
    "CheckIn",
    "Concern",
    "ConcernEvent",
    "DeadlineRule",
    "DiaryNote",
    "ExtensionRequest",
    "LoginAttempt",
    "LookBack",
    "MeetingAttendee",
    "OrgUnit",
    "Photo",
    "Rating",
    "RatingToken",
    "Target",
    "User",
    "Visit",
    "VisitPhoto",
    "VillageMeeting",
]
