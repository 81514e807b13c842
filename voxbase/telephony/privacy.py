"""What the telephony tables hold about a person (the privacy registry, voxbase/core/privacy.py).

Seed 002 keeps call records two years (`calls` policy). A call's events carry the provider's
callback fields (numbers included) and go with their call. SMS conversations, their texts and
delivery events follow the `sms` policy (seed 002: one year). An opt-out (a number that texted
STOP) is kept: it is what stops that number from being texted again, and it holds that number
only as a keyed hash (ADR 1252), so nothing in it says whose number it was.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, REDACT, Keep, Pseudonymise, Retention, registry
from voxbase.telephony.models import (
    AmdEntry,
    Call,
    CallEvent,
    Email,
    EmailEvent,
    SmsConversation,
    SmsMessage,
    SmsMessageEvent,
    SmsOptOut,
    TelephonyWebhookEvent,
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
# An opt-out holds our sending number and a keyed hash of the number that texted STOP, never
# that number (ADR 1252): it is kept so that the number is never texted again (TCPA / CTIA).
registry.table(
    SmsOptOut,
    mentions=("from_number",),
    erase=Keep(
        "an opt-out is kept so that the number is never texted again (TCPA / CTIA consent); "
        "it holds the number only as a keyed hash"
    ),
)
registry.table(
    Email,
    subject="user_id",
    mentions=("recipient_email", "from_email", "subject", "content", "topic"),
    export="emails",
    erase=DELETE,
    retention=Retention("emails", after="created_at"),
)
registry.table(
    EmailEvent,
    parent=("email_id", Email),
    mentions=("payload", "reason"),
    export="email_events",
    erase=DELETE,
    retention=Retention("emails", after="created_at"),
)
registry.table(
    AmdEntry,
    subject="user_id",
    export="amd_waiting_room",
    erase=DELETE,
    retention=Retention("amd_waiting_room", after="created_at"),
)
# The inbox of provider callbacks (numbers and addresses in the payload): the row stays so a
# redelivered callback is still recognised; what it says about the person goes.
registry.table(
    TelephonyWebhookEvent,
    mentions="payload",
    erase=Pseudonymise(
        "the event key is kept so that a redelivered callback is not applied twice",
        mentioned={"payload": REDACT},
    ),
    retention=Retention("provider_events"),
)
