"""Imports every capability's models so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from server.accounts.models import AuthSession, LoginAttempt, OrgUnit, User
from server.diary.models import DiaryNote
from server.ledger.models import Concern
from server.places.models import Assignment, Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto

__all__ = [
    "Assignment",
    "AuthSession",
    "CheckIn",
    "Concern",
    "DiaryNote",
    "LoginAttempt",
    "OrgUnit",
    "Photo",
    "Target",
    "User",
    "Visit",
    "VisitPhoto",
]
