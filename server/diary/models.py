"""The cadre's own note for a day; the rest of the diary is compiled from check-ins and visits."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.clock import utcnow


class DiaryNote(SQLModel, table=True):
    __tablename__ = "diary_note"
    __table_args__ = (UniqueConstraint("user_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id")
    day: date
    note: str = Field(default="")
    version: int = Field(default=1)
    updated_at: datetime = Field(default_factory=utcnow)
