"""What the telephony tables hold about a person (the privacy registry, voxbase/core/privacy.py).

Seed 002 keeps call records two years (`calls` policy). A call's events carry the provider's
callback fields (numbers included) and go with their call. SMS conversations, their texts and
delivery events follow the `sms` policy (seed 002: one year). An opt-out (a number that texted
STOP) is kept as it is: it is what stops that number from being texted again.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, Pseudonymise, Retention, registry
from voxbase.telephony.models import (
    Call,
    CallEvent,
    SmsConversation,
    SmsMessage,
    SmsMessageEvent,
    SmsOptOut,
)

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
registry.table(
    SmsConversation,
    subject="user_id",
    mentions=("topic",),
    export="sms_conversations",
    erase=DELETE,
    retention=Retention("sms", after="created_at"),
)
registry.table(
    SmsMessage,
    subject="user_id",
    mentions=("body",),
    export="sms_messages",
    erase=DELETE,
    retention=Retention("sms", after="created_at"),
)
registry.table(
    SmsMessageEvent,
    parent=("sms_message_id", SmsMessage),
    mentions=("payload",),
    export="sms_message_events",
    erase=DELETE,
    retention=Retention("sms", after="created_at"),
)
registry.table(
    SmsOptOut,
    mentions=("contact_number", "from_number"),
    export="sms_opt_outs",
    erase=Pseudonymise(
        "an opt-out is kept so that the number is never texted again (TCPA / CTIA consent)",
        mentioned={},
    ),
)
