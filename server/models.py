"""Imports every capability's models so ``SQLModel.metadata`` is complete (Alembic, tests)."""

from server.accounts.models import AuthSession, LoginAttempt, OrgUnit, User
from server.assessment.models import AssessmentConfig
from server.coverage.models import Campaign, CoverageRule, Phase
from server.diary.models import DiaryNote
from server.integrity.models import IntegrityFlag, SpotCheck, SpotCheckRun
from server.ledger.models import Concern
from server.places.models import Assignment, Target
from server.visits.models import CheckIn, Photo, Visit, VisitPhoto

__all__ = [
    "AssessmentConfig",
    "IntegrityFlag",
    "SpotCheck",
    "SpotCheckRun",
    "Assignment",
    "AuthSession",
    "Campaign",
    "CoverageRule",
    "Phase",
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
