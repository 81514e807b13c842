"""What the webhook tables hold about a person (the privacy registry; see voxbase/core/privacy.py).

An endpoint is the person's configuration (a URL of theirs, a description): exported, and
erased with them. A team's endpoint stays with the team; the id of the member who registered
it becomes the erased-subject token. Deliveries and attempts belong to their endpoint (their
bodies carry the person's ids); they go with it, and after 30 days in any case. Secrets are
never exported.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, Retention, registry
from voxbase.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

registry.table(
    WebhookEndpoint,
    subject="user_id",
    refs="created_by",
    export="webhook_endpoints",
    exclude=("secret", "previous_secret"),
    erase=DELETE,
)
registry.table(
    WebhookDelivery,
    parent=("endpoint_id", WebhookEndpoint),
    mentions="body",
    export="webhook_deliveries",
    erase=DELETE,
    retention=Retention("webhook_deliveries", after="created_at"),
)
registry.table(
    WebhookAttempt,
    parent=("delivery_id", WebhookDelivery),
    export="webhook_attempts",
    exclude=("request_headers",),
    erase=DELETE,
    retention=Retention("webhook_deliveries", after="created_at"),
)
