"""What the audit tables hold about a person (the privacy registry; see voxbase/core/privacy.py)."""

from __future__ import annotations

from voxbase.audit.models import AuditLog, SystemLog
from voxbase.core.privacy import DELETE, NULL, REDACT, Pseudonymise, Retention, registry

# The trail stays (who did what, when) but names the erased-subject token, not the person:
# their own rows lose the values they changed and where they came from; rows of other people
# that mention them (an admin changed their email) lose only those mentions.
registry.table(
    AuditLog,
    subject=("actor_id", "actor_user_id", "resource_id"),
    mentions=("changes", "resource_id"),  # composite ids name the user: "<user id>:<feature>"
    export="audit_log",
    erase=Pseudonymise(
        "the audit trail is kept for accountability (GDPR Art. 5(2)) and security",
        columns={"changes": REDACT, "ip_address": NULL, "user_agent": NULL},
    ),
    retention=Retention("audit_logs"),
)
registry.table(
    SystemLog,
    subject="user_id",
    mentions=("message", "exception_traceback"),
    export="system_logs",
    exclude="exception_traceback",
    erase=DELETE,
    retention=Retention("system_logs"),
)
