"""A person with data in every table the privacy registry knows, made the way clients make it:
over HTTP, and through services where no route exists (a Google identity, a system log).

`test_erase.py` erases them and scans the whole database. When a module adds a table, give it
rows of the person here (the erase test fails for a declared table with none of their rows).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from tests.conftest import PASSWORD, bearer, make_admin, register
from tests.helpers_billing import User, profile
from tests.knowledge import files
from tests.mail import Mailbox
from voxbase.accounts import repository as accounts
from voxbase.accounts.models import Identity
from voxbase.core import clock, context
from voxbase.core.db import unit_of_work
from voxbase.core.privacy import registry
from voxbase.models import load_privacy_rules
from voxbase.profiles import load_profile, using
from voxbase.providers.payments import stripe_signature

STRIPE_SECRET = "whsec_privacy_scenario"


@dataclass
class Person:
    user: User
    username: str
    full_name: str
    phone: str
    google_subject: str
    google_email: str
    api_key_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    def identifiers(self) -> list[str]:
        """Every string that would betray them, as the scan looks for it."""
        ids = [self.id, self.api_key_id]
        return [
            *ids,
            *(uuid.UUID(i).hex for i in ids),
            self.email,
            self.username,
            self.full_name,
            self.phone,
            self.phone.replace(" ", ""),
            self.google_subject,
            self.google_email,
            # single words of the name: what a full-text index keeps of it
            *(part for part in self.full_name.split() if len(part) >= 6),
        ]


@dataclass
class World:
    person: Person
    other: User  # owns a team the person joined; is a member of the person's team
    admin: dict[str, str]
    person_team: str
    other_team: str
    other_conversation: str
    document_id: str


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


async def _stripe_event(app: FastAPI, client: httpx.AsyncClient, obj: dict[str, Any]) -> None:
    kit = app.state.auth
    settings = kit.settings.model_copy()
    settings.stripe_webhook_secret = SecretStr(STRIPE_SECRET)
    app.state.auth = dataclasses.replace(kit, settings=settings)
    try:
        now = int(clock.now().timestamp())
        body = json.dumps(
            {
                "id": f"evt_{uuid.uuid4().hex}",
                "object": "event",
                "type": "customer.updated",
                "created": now,
                "data": {"object": obj},
            }
        ).encode()
        response = await client.post(
            "/v1/webhooks/stripe",
            content=body,
            headers={
                "Stripe-Signature": stripe_signature(body, STRIPE_SECRET, now),
                "Content-Type": "application/json",
            },
        )
        await _ok(response)
    finally:
        app.state.auth = kit


async def _webhook_endpoint(app: FastAPI, user: User, full_name: str) -> None:
    from tests.webhooks.receiver import Receiver

    receiver = Receiver()
    receiver.start()
    settings = app.state.settings
    allowed = settings.webhooks_allow_private_networks
    settings.webhooks_allow_private_networks = True  # the receiver listens on 127.0.0.1
    try:
        endpoint = await _ok(
            await user.post(
                "/v1/webhook-endpoints",
                {"url": receiver.url(), "description": f"{full_name}'s CRM", "event_types": ["*"]},
            ),
            201,
        )
        await _ok(await user.post(f"/v1/webhook-endpoints/{endpoint['id']}/test"), 202)
    finally:
        settings.webhooks_allow_private_networks = allowed
        receiver.stop()


async def _sms_to_themselves(app: FastAPI, user: User, phone: str, full_name: str) -> None:
    from voxbase.telephony import sms

    body = {"to": phone, "topic": f"Reminder for {full_name}", "message": "Table at 8"}
    await _ok(await user.post("/v1/sms/conversations", body), 201)
    settings = app.state.settings
    async with unit_of_work(app.state.db) as session:
        await sms.inbound(
            session,
            settings,
            to_number=sms.sms_from_number(settings),
            contact=phone.replace(" ", ""),
            body="STOP",
            sid=f"SM{uuid.uuid4().hex}",
            provider="simulated",
        )


async def _email_to_themselves(app: FastAPI, user: User, email: str, full_name: str) -> None:
    """An email sent for them, and the provider's event about it (it carries the address)."""
    from voxbase.telephony import emails
    from voxbase.telephony.models import Email

    body = {"to": email, "subject": f"Hello {full_name}", "content": f"Dear {full_name}"}
    made = await _ok(await user.post("/v1/emails", body), 201)
    async with unit_of_work(app.state.db) as session:
        row = await session.get(Email, uuid.UUID(made["id"]))
        assert row is not None
        event = {"event": "delivered", "email": email, "sg_event_id": uuid.uuid4().hex}
        await emails.record_event(session, row, "sendgrid", event)
    await _sendgrid_event(app, {**event, "sg_event_id": uuid.uuid4().hex})


async def _sendgrid_event(app: FastAPI, event: dict[str, Any]) -> None:
    """The signed SendGrid webhook: its inbox row keeps the payload (with the address)."""
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.apps import http_client

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = app.state.settings
    before = settings.sendgrid_webhook_public_key
    settings.sendgrid_webhook_public_key = base64.b64encode(public).decode()
    payload = json.dumps([event]).encode()
    stamp = str(int(clock.now().timestamp()))
    signature = key.sign(stamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        "Content-Type": "application/json",
    }
    try:
        async with http_client(app) as client:
            await _ok(await client.post("/v1/webhooks/sendgrid", content=payload, headers=headers))
    finally:
        settings.sendgrid_webhook_public_key = before


async def _ad_callback(
    app: FastAPI, client: httpx.AsyncClient, user_id: Any, ad: dict[str, Any]
) -> None:
    """The ad network's signed callback of another view: its inbox row (ad_callbacks)."""
    from voxbase.core import clock
    from voxbase.monetization.callbacks import SIGNATURE_HEADER, sign

    settings = app.state.settings
    before = settings.ads_callback_secret
    settings.ads_callback_secret = SecretStr("ads-secret")
    try:
        body = json.dumps({**ad, "impression_id": "cb-1", "user_id": str(user_id)}).encode()
        stamp = int(clock.now().timestamp())
        headers = {SIGNATURE_HEADER: sign("ads-secret", stamp, body)}
        await _ok(await client.post("/v1/webhooks/ads", content=body, headers=headers))
    finally:
        settings.ads_callback_secret = before


@asynccontextmanager
async def _embeddings(app: FastAPI) -> AsyncIterator[None]:
    """An OpenAI-compatible embeddings API served locally (documents get chunks)."""
    if "document_chunks" not in registry.rules:
        yield
        return
    from tests.knowledge.test_embeddings import fake_embeddings
    from tests.realtime.conftest import serve

    server, _calls = fake_embeddings()
    settings = app.state.settings
    before = (settings.embeddings_base_url, settings.embeddings_model)
    async with serve(server) as base:
        settings.embeddings_base_url = base.replace("ws://", "http://") + "/v1"
        settings.embeddings_model = "tiny-embed"
        try:
            yield
        finally:
            settings.embeddings_base_url, settings.embeddings_model = before


async def build(app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox) -> World:
    load_privacy_rules()
    tag = uuid.uuid4().hex[:8]
    admin = bearer((await make_admin(app, client))["access_token"])
    username = f"zeb{tag}"
    full_name = f"Zebulon Quixley{tag}"
    phone = f"+1 415 77{tag[:1].translate(str.maketrans('abcdef0', '1234567'))} 0199"
    pair = await register(client, f"zeb.{tag}@example.com", username=username, full_name=full_name)
    user = User(client, pair, pair["user"]["email"])
    person = Person(user, username, full_name, phone, f"g-{tag}-sub", f"zeb.{tag}@gmail.example")
    other = await User.create(client)
    headers = user.headers

    # accounts: profile, a second device (refresh chain), an API key, a Google identity.
    await _ok(
        await client.patch(
            "/v1/me",
            json={"profile": {"phone_number": phone, "bio": f"I am {full_name}"}},
            headers=headers,
        )
    )
    await user.login()
    refreshed = await _ok(
        await client.post("/v1/auth/refresh", json={"refresh_token": user.pair["refresh_token"]})
    )
    user.pair = refreshed
    key = await _ok(
        await user.post("/v1/api-keys", {"name": "agent", "scopes": ["usage:write"]}), 201
    )
    person.api_key_id = key["id"]
    async with unit_of_work(app.state.db) as session:
        await accounts.add(
            session,
            Identity(
                user_id=uuid.UUID(person.id),
                provider="google",
                subject=person.google_subject,
                email=person.google_email,
            ),
        )

    # privacy: a consent decision (with the address it came from).
    await _ok(
        await user.post(
            "/v1/me/consents",
            {"purpose": "marketing", "granted": True, "policy_version": "2026-12"},
        ),
        201,
    )

    # metering: usage (idempotent: an Idempotency-Key record), a hold, credits, a feature.
    used = await client.post(
        "/v1/usage/events",
        json={"meter": "api_calls", "quantity": "2", "idempotency_key": f"{username}-1"},
        headers={"Authorization": f"Bearer {key['key']}", "Idempotency-Key": f"use-{tag}"},
    )
    await _ok(used, 201)
    await _ok(await user.post("/v1/usage/reservations", {"meter": "tokens", "quantity": "10"}), 201)
    await _ok(
        await client.post(
            f"/v1/admin/users/{person.id}/credits",
            json={"meter": "voice_minutes", "amount": "30", "note": f"goodwill for {full_name}"},
            headers=admin,
        ),
        201,
    )
    await _ok(
        await client.put(
            f"/v1/admin/users/{person.id}/features/priority_support",
            json={"enabled": True},
            headers=admin,
        )
    )

    # billing: a paid upgrade (invoice, lines, payment, plan change, billing events).
    changed = await _ok(
        await user.post(
            "/v1/me/subscription/change",
            {"plan": "premium"},
            headers={"Idempotency-Key": f"{username}-upgrade"},
        )
    )
    await _ok(
        await client.post(
            f"/v1/admin/invoices/{changed['invoice']['id']}/mark-paid",
            json={
                "method": "paypal",
                "reference": f"PAYID-{tag}",
                "metadata": {"payer": person.email},
            },
            headers=admin,
        )
    )
    await _ok(await other.post("/v1/me/subscription/change", {"plan": "premium"}))
    bought = await _ok(await user.post("/v1/time-cards/purchase", {"tier": "hour"}), 201)
    await _ok(
        await client.post(
            f"/v1/admin/invoices/{bought['invoice']['id']}/mark-paid", json={}, headers=admin
        )
    )
    await _ok(await user.post("/v1/time-cards/activate", {"code": bought["activation_code"]}))

    # assistants and conversations: a template, a prompt with versions, a live session with
    # segments, guidance and a summary, a chat with messages, a document with a stored file.
    template = await _ok(
        await user.post(
            "/v1/templates",
            {
                "name": f"{full_name}'s calls",
                "cue_set": [{"phrases": ["price"], "type": "ask", "content": "Ask the budget."}],
            },
        ),
        201,
    )
    prompt = await _ok(
        await user.post("/v1/prompts", {"name": "Greeter", "content": f"Hi, I am {full_name}."}),
        201,
    )
    await _ok(
        await client.patch(
            f"/v1/prompts/{prompt['id']}", json={"content": "Hello again."}, headers=headers
        )
    )
    live = await _ok(
        await user.post(
            "/v1/conversations", {"channel": "live", "title": "Acme", "template_id": template["id"]}
        ),
        201,
    )
    await _ok(await user.post(f"/v1/conversations/{live['id']}/start"))
    await _ok(
        await user.post(
            f"/v1/conversations/{live['id']}/segments",
            {
                "segments": [
                    {"text": "What is the price?", "start_seconds": 0, "end_seconds": 2},
                    {"text": f"Call me at {phone}", "start_seconds": 2, "end_seconds": 4},
                ]
            },
        ),
    )
    await _ok(await user.post(f"/v1/conversations/{live['id']}/end"))
    chat = await _ok(await user.post("/v1/conversations", {"channel": "chat"}), 201)
    await _ok(
        await user.post(
            f"/v1/conversations/{chat['id']}/messages", {"role": "user", "content": "Hello"}
        ),
        201,
    )
    async with _embeddings(app):  # passages and their vectors, when knowledge has them
        uploaded = await client.post(
            "/v1/documents",
            files={"file": ("notes.pdf", files.pdf([f"Notes of {full_name}"]))},
            headers=headers,
        )
        document = await _ok(uploaded, 201)

    # teams: the person owns one (the other is a member), and joined the other's.
    from tests.helpers_teams import join, new_team

    person_team = await new_team(user, f"{full_name} crew")
    other_team = await new_team(other, "Other crew")
    await join(user, other, person_team["id"], mailbox)
    await join(other, user, other_team["id"], mailbox)
    await _ok(
        await user.post(
            f"/v1/teams/{person_team['id']}/invitations",
            {"email": f"friend-{tag}@example.com", "role": "member"},
        ),
        201,
    )

    # The other user's data that mentions the person: a message naming them.
    other_chat = await _ok(await other.post("/v1/conversations", {"channel": "chat"}), 201)
    await _ok(
        await other.post(
            f"/v1/conversations/{other_chat['id']}/messages",
            {"role": "user", "content": f"Ask {full_name} ({person.email}) about it"},
        ),
        201,
    )

    # telephony: a call the person placed (status timeline from the simulated provider).
    # telephony: an SMS conversation with their own phone, which then texted STOP (seed 002).
    with profile("talking_app"):
        call: dict[str, Any] = {"to": "+1 415 555 0100", "topic": "Book"}
        if "amd_waiting_room" in registry.rules:  # answering-machine detection: a queue entry
            call["machine_detection"] = True
        await _ok(await user.post("/v1/calls", call), 201)
        if "emails" in registry.rules:
            await _email_to_themselves(app, user, person.email, full_name)
        if "sms_conversations" in registry.rules:
            await _sms_to_themselves(app, user, phone, full_name)

    # billing: a payment provider's event about them (stored once, found by what it carries).
    await _stripe_event(
        app,
        client,
        {
            "object": "customer",
            "email": person.email,
            "name": full_name,
            "metadata": {"user_id": person.id},
        },
    )

    # Modules that landed later: each block runs once the module's tables are in the registry.
    if "functions" in registry.rules:  # assistants: tools with JSON Schema (seed 000)
        await _ok(
            await user.post(
                "/v1/functions",
                {"name": f"lookup_{tag}", "description": f"Orders of {full_name}"},
            ),
            201,
        )
    if "personas" in registry.rules:  # assistants: a custom persona (seed 003)
        await _ok(
            await client.put(
                f"/v1/admin/users/{person.id}/features/custom_personas",
                json={"enabled": True},
                headers=admin,
            )
        )
        persona = {"slug": f"coach-{tag}", "name": f"{full_name}'s coach", "system_prompt": "Hi"}
        await _ok(await user.post("/v1/personas", persona), 201)
    if "ad_interactions" in registry.rules:  # monetization: a completed ad view (seed 003)
        mindbot = load_profile("mindbot")
        assert mindbot.ads is not None
        every_plan = mindbot.model_copy(
            update={"ads": mindbot.ads.model_copy(update={"plans": []})}
        )
        with using(every_plan):  # its impression id happens to carry their email
            ad = {"impression_id": f"imp-{person.email}", "ad_id": "ad-1", "ad_type": "video"}
            ad |= {"view_duration_seconds": 30, "completed": True, "revenue": "0.002"}
            viewed = await _ok(await user.post("/v1/ads/interactions", ad), 201)
            assert viewed["outcome"] == "granted", viewed
            await _ad_callback(app, client, person.id, ad)
    if "persona_ratings" in registry.rules:  # a session with a system persona, customised, rated
        guide = {
            "slug": f"guide-{tag}",
            "name": "Guide",
            "system_prompt": "Guide the user.",
            "is_system": True,
            "daily_usage_limit_minutes": 30,
            "user_customizable_fields": ["name"],
        }
        await _ok(await client.post("/v1/personas", json=guide, headers=admin), 201)
        custom = {"name": f"{full_name}'s guide"}
        await _ok(
            await client.put(
                f"/v1/personas/guide-{tag}/customization", json=custom, headers=user.headers
            )
        )
        talk = await _ok(
            await user.post("/v1/conversations", {"channel": "voice", "persona": f"guide-{tag}"}),
            201,
        )
        await _ok(await user.post(f"/v1/conversations/{talk['id']}/start"))
        await _ok(await user.post(f"/v1/conversations/{talk['id']}/end"))
        rating = {"rating": 4, "feedback": f"{full_name} liked it"}
        await _ok(await user.post(f"/v1/personas/guide-{tag}/ratings", rating), 201)
    if "room_events" in registry.rules:  # a voice session in a LiveKit room the user leaves
        from tests import fake_livekit

        with fake_livekit.configured(app):
            room = f"room-{tag}"
            talk = await _ok(
                await user.post("/v1/conversations", {"channel": "voice", "room_name": room}), 201
            )
            await _ok(await user.post(f"/v1/conversations/{talk['id']}/start"))
            left = fake_livekit.event(
                "participant_left", room, f"EV_{tag}", identity=f"user-{person.id}"
            )
            body, signature = fake_livekit.signed(left)
            hook = await client.post("/v1/webhooks/livekit", content=body, headers=signature)
            assert (await _ok(hook))["status"] == "processed"
    if "webhook_endpoints" in registry.rules:  # webhooks out: an endpoint, a delivery
        await _webhook_endpoint(app, user, full_name)
    if "brand_profiles" in registry.rules:  # content: their brand, and their team's (seed 004)
        brand = {"business_name": f"{full_name}'s bistro", "key_messages": [person.email]}
        await _ok(await client.put("/v1/me/brand", json=brand, headers=headers))
        team_brand = {"business_name": "The crew's kitchen"}
        await _ok(
            await client.put(
                f"/v1/teams/{person_team['id']}/brand", json=team_brand, headers=headers
            )
        )
    if "content_items" in registry.rules:  # content: an idea, its post scheduled, metrics
        idea = await _ok(
            await client.post(
                "/v1/content",
                json={
                    "title": f"{full_name}'s special",
                    "variants": [{"platform": "instagram", "caption": f"Cooked by {full_name}"}],
                },
                headers=headers,
            ),
            201,
        )
        if "content_calendar" in registry.rules:
            entry = {
                "variant_id": idea["variants"][0]["id"],
                "scheduled_for": (clock.now() + timedelta(days=1)).isoformat(),
                "notes": f"Ask {person.email}",
            }
            await _ok(await client.post("/v1/content/calendar", json=entry, headers=headers), 201)
            await _ok(await client.post("/v1/content/calendar/feed", headers=headers), 201)
        if "content_performance" in registry.rules:
            metrics = {"platform": "instagram", "views": 10, "likes": 2, "reach": 8}
            await _ok(
                await client.post(
                    f"/v1/content/{idea['id']}/performance", json=metrics, headers=headers
                ),
                201,
            )

    if "data_exports" in registry.rules:  # privacy: a GDPR export (its archive is stored)
        await _ok(await user.post("/v1/me/export"), 202)

    # audit: a system log written during one of the person's requests.
    token = context.bind(
        context.RequestContext(request_id=f"req-{tag}", user_id=uuid.UUID(person.id))
    )
    try:
        logging.getLogger("voxbase.test").warning("quota nearly used by %s", person.email)
    finally:
        context.reset(token)
    await app.state.system_logs.flush_to(app.state.db)

    return World(
        person=person,
        other=other,
        admin=admin,
        person_team=person_team["id"],
        other_team=other_team["id"],
        other_conversation=other_chat["id"],
        document_id=document["id"],
    )


__all__ = ["PASSWORD", "Person", "World", "build"]
