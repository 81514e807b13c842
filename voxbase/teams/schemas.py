"""Request and response models of the teams API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from voxbase.core.schemas import Input

TeamName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Role = Literal["owner", "admin", "member", "viewer"]
InviteRole = Literal["admin", "member", "viewer"]


MaxMembers = Field(
    None, ge=1, le=100000, description="Optional cap below the seats of the owner's plan"
)


class TeamCreate(Input):
    name: TeamName
    description: str | None = Field(None, max_length=1000)
    max_members: int | None = MaxMembers


class TeamUpdate(Input):
    name: TeamName | None = None
    description: str | None = Field(None, max_length=1000)
    max_members: int | None = MaxMembers


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    owner_id: uuid.UUID
    role: Role = Field(description="The caller's role in the team")
    members: int
    max_members: int | None
    seats: int | None = Field(
        description="Members allowed: the owner's plan seats, or max_members if lower; "
        "null: no limit"
    )
    created_at: datetime


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    role: Role
    created_at: datetime


class RoleChange(Input):
    role: Role = Field(description="`owner` transfers ownership (the old owner becomes admin)")


class InvitationCreate(Input):
    email: EmailStr
    role: InviteRole = "member"
    ttl_hours: int = Field(168, ge=1, le=720, description="The link expires after this")


class InvitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    team_id: uuid.UUID
    email: str
    role: Role
    status: Literal["pending", "accepted", "revoked"]
    expires_at: datetime
    created_at: datetime


class InvitationAccept(Input):
    token: str = Field(min_length=16, max_length=200)
