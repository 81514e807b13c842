"""Who is calling: a signed-in user, an API key acting for its owner, or the system."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal

ActorType = Literal["user", "admin", "api_key", "system"]


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID | None
    role: str = "user"
    kind: Literal["user", "api_key", "system"] = "user"
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def actor_type(self) -> ActorType:
        if self.kind == "system":
            return "system"
        if self.kind == "api_key":
            return "api_key"
        return "admin" if self.role in ("support", "admin", "super_admin") else "user"

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.api_key_id if self.kind == "api_key" else self.user_id

    def has_scope(self, scope: str) -> bool:
        return self.kind != "api_key" or scope in self.scopes


SYSTEM = Principal(user_id=None, role="super_admin", kind="system")
