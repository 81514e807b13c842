"""Team tables: teams and team_members of seed 004, and invitations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from voxbase.core.db import Model, SoftDeleteMixin

ROLES = ("owner", "admin", "member", "viewer")


class Team(SoftDeleteMixin, Model):
    """A team; its usage allowance and seat limit come from its owner's plan."""

    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(String(1000))
    # Seed 004 max_members: an optional cap the team sets below its owner's plan seats.
    max_members: Mapped[int | None]
    # The one member with role "owner"; whose subscription sizes the team.
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)


class TeamMember(Model):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # owner/admin/member/viewer
    invited_by: Mapped[uuid.UUID | None]


class TeamInvitation(Model):
    """A single-use, expiring invitation mailed to an address; the token is stored hashed."""

    __tablename__ = "team_invitations"
    __table_args__ = (Index("ix_team_invitations_team_status", "team_id", "status"),)

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/accepted/revoked
    expires_at: Mapped[datetime]
    invited_by: Mapped[uuid.UUID | None]
    accepted_by: Mapped[uuid.UUID | None]
    accepted_at: Mapped[datetime | None]
