"""Ad networks' server-to-server callbacks: ad views verified by the network (ADR 0860).

An app reports an ad view itself (`POST /v1/ads/interactions`), and a client can claim
anything. Ad networks confirm rewarded views from their own servers instead ("server-side
verification"); Voxbase takes such a callback at `POST /v1/webhooks/ads`, signed with the
secret shared with the network (`VOXBASE_ADS_CALLBACK_SECRET`):

    Voxbase-Ad-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The signature is checked in constant time against every `v1` given (two while a secret is
rotated), and `t` must be within `VOXBASE_ADS_CALLBACK_TOLERANCE_SECONDS` of now, so a
captured callback cannot be sent again later; within that window a replay is stopped by the
inbox: each callback is stored once per (user, impression id) and processed once
(core/inbox.py, ADR 1103). Processing confirms the view: it creates it, or completes the
client's earlier report of it, with the network's facts, and grants what it earns under the
same rule and daily cap as before. Once a secret is configured, client reports are recorded
but earn nothing until confirmed (`pending_verification`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.core import clock, inbox
from voxbase.core.config import Settings
from voxbase.core.errors import NotFound, Unauthenticated
from voxbase.core.principal import Principal
from voxbase.monetization import repository
from voxbase.monetization.models import AdCallback, AdInteraction
from voxbase.monetization.schemas import AdCallbackAck, AdCallbackIn
from voxbase.monetization.service import _eligibility, _facts, _grant, _new_row, _out

SIGNATURE_HEADER = "Voxbase-Ad-Signature"
PROVIDER = "the ad network"


class CallbackBodyInvalid(Exception):
    """The signed body is not a valid callback (the API answers 422 with `errors`)."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


def configured(settings: Settings) -> bool:
    return settings.ads_callback_secret is not None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The header value a network sends (tests and client libraries use it too)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(settings: Settings, body: bytes, header: str | None) -> None:
    """Unauthenticated (401) unless the header signs `body` with the secret, recently."""
    assert settings.ads_callback_secret is not None
    if not header:
        raise Unauthenticated(f"The callback has no {SIGNATURE_HEADER} header.")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1":
            signatures.append(value.strip().lower())
    if timestamp is None or not signatures:
        raise Unauthenticated(f"The {SIGNATURE_HEADER} header needs t= and v1=.")
    age = abs(clock.now().timestamp() - timestamp)
    if age > settings.ads_callback_tolerance_seconds:
        raise Unauthenticated(
            "The callback's timestamp is outside the tolerance; it may be a replay.",
            tolerance_seconds=settings.ads_callback_tolerance_seconds,
        )
    secret = settings.ads_callback_secret.get_secret_value()
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    # Every candidate is compared, in constant time: how many matched leaks nothing.
    matched = [hmac.compare_digest(expected.encode(), s.encode()) for s in signatures]
    if not any(matched):
        raise Unauthenticated("The callback's signature does not verify.")


def parse(body: bytes) -> AdCallbackIn:
    try:
        return AdCallbackIn.model_validate_json(body)
    except ValidationError as exc:
        raise CallbackBodyInvalid(exc) from exc


async def receive(
    session: AsyncSession, settings: Settings, body: bytes, header: str | None
) -> AdCallbackAck:
    """Verify, store once, confirm the view and grant what it earns."""
    if not configured(settings):
        raise NotFound("Ad callbacks are not enabled here (VOXBASE_ADS_CALLBACK_SECRET).")
    verify(settings, body, header)
    data = parse(body)
    row = AdCallback(
        user_id=data.user_id,
        impression_id=data.impression_id,
        payload=json.loads(body),
        status="received",
    )
    confirmed: list[AdInteraction] = []

    async def process(callback: AdCallback) -> str:
        view = await _apply(session, callback)
        confirmed.extend([view] if view is not None else [])
        return "processed" if view is not None else "ignored"

    status = await inbox.receive_once(
        session,
        row,
        lambda: repository.get_callback(session, data.user_id, data.impression_id),
        process,
        provider=PROVIDER,
    )
    view = confirmed[0] if confirmed else None
    return AdCallbackAck.model_validate(
        {"status": status, "interaction": _out(view) if view is not None else None}
    )


async def _apply(session: AsyncSession, callback: AdCallback) -> AdInteraction | None:
    """Confirm the view a stored callback reports (on receipt, and again by the retry job)."""
    view = await confirm(session, AdCallbackIn.model_validate(callback.payload))
    if view is not None:
        callback.interaction_id = view.id
    return view


async def _retry(session: AsyncSession, callback: AdCallback) -> str:
    return "processed" if await _apply(session, callback) is not None else "ignored"


INBOX = inbox.register(
    inbox.Inbox(
        name="ads",
        model=AdCallback,
        retry=_retry,
        provider=lambda row: PROVIDER,
        key=lambda row: row.impression_id,
        kind=lambda row: "ad.viewed",
    )
)


async def confirm(session: AsyncSession, data: AdCallbackIn) -> AdInteraction | None:
    """The network saw the view: store it with the network's facts, verified, and grant what
    it earns (once: a view that already has its grant keeps it). None: no such user."""
    try:
        await accounts.admin_get_user(session, data.user_id)
    except NotFound:
        return None
    user_id = data.user_id
    principal = Principal(user_id=user_id)
    now = clock.now()
    earlier = await repository.get_interaction(session, user_id, data.impression_id)
    if data.persona is None and earlier is not None and earlier.persona_slug is not None:
        data = data.model_copy(update={"persona": earlier.persona_slug})
    rule, refusal = await _eligibility(session, principal, user_id, data, persona_errors=False)
    day = earlier.day if earlier is not None else now.date()
    # Lock order as for a client's report: the user's day, then the view.
    tally = None if refusal else await repository.locked_day(session, user_id, day)
    row = await repository.get_interaction(session, user_id, data.impression_id, lock=True)
    if row is None:
        row = _new_row(user_id, data, day, refusal or "granted")
        row.verified_at = now
        if await repository.insert_if_absent(session, row):
            if rule is not None and tally is not None:
                await _grant(session, principal, row, rule, tally)
            return row
        # The client's report was stored meanwhile: confirm it below.
        row = await repository.get_interaction(session, user_id, data.impression_id, lock=True)
        assert row is not None
    if row.verified_at is not None:
        return row
    facts: dict[str, Any] = _facts(data)
    for name, value in facts.items():
        setattr(row, name, value)
    row.verified_at = now
    if row.grant_id is None:  # granted before verification was required: not twice
        row.outcome = refusal or "granted"
        if rule is not None and tally is not None:
            await _grant(session, principal, row, rule, tally)
    await session.flush()
    return row
