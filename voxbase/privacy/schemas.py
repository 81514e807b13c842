"""Request and response models of the privacy API."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from voxbase.core.schemas import Input


class Purpose(StrEnum):
    """What a person can agree to, or withdraw from."""

    RECORDING = "recording"  # audio of their sessions and calls is kept
    AI_PROCESSING = "ai_processing"  # transcripts go to AI engines (guidance, summaries)
    ANALYTICS = "analytics"  # app-session analytics
    MARKETING = "marketing"  # product news by email


PolicyVersion = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)
]


class ConsentDecision(Input):
    purpose: Purpose
    granted: bool
    policy_version: PolicyVersion = Field(
        description="The version of the privacy policy or consent text the person saw"
    )


class ConsentRecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    purpose: Purpose
    granted: bool
    policy_version: str
    ip_address: str | None
    created_at: datetime


class ConsentState(BaseModel):
    purpose: Purpose
    granted: bool
    explicit: bool = Field(
        description="Whether the person decided (false: the default for this purpose applies)"
    )
    policy_version: str | None
    decided_at: datetime | None


class Consents(BaseModel):
    current: list[ConsentState] = Field(description="Every purpose and what is in force")
    history: list[ConsentRecordOut] = Field(description="Every decision, newest first")


class ErasureOut(BaseModel):
    """The record of an erasure: it names no one (the token stands for the person)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    token: uuid.UUID = Field(description="Stands for the person in the rows that were kept")
    status: str
    reason: str
    counts: dict[str, int] = Field(description="Rows deleted or pseudonymised, per table")
    files_deleted: int
    created_at: datetime
    finished_at: datetime | None
