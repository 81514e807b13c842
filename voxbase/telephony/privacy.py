"""What the telephony tables hold about a person (the privacy registry, voxbase/core/privacy.py).

Seed 002 keeps call records two years (`calls` policy). A call's events carry the provider's
callback fields (numbers included) and go with their call.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, Retention, registry
from voxbase.telephony.models import Call, CallEvent

registry.table(
    Call,
    subject="user_id",
    mentions=("topic",),
    export="calls",
    erase=DELETE,
    retention=Retention("calls", after="created_at"),
)
registry.table(
    CallEvent,
    parent=("call_id", Call),
    mentions=("payload",),
    export="call_events",
    erase=DELETE,
    retention=Retention("calls", after="created_at"),
)
