"""What the notifications table holds about a person (see voxbase/core/privacy.py): their own
notices, exported and erased with them, and purged after the `notifications` period."""

from __future__ import annotations

from voxbase.core.privacy import DELETE, Retention, registry
from voxbase.notifications.models import Notification

registry.table(
    Notification,
    subject="user_id",
    export="notifications",
    erase=DELETE,
    retention=Retention("notifications", after="created_at"),
)
