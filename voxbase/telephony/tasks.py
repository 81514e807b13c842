"""Telephony jobs: place a call at the provider, end one, and the simulated provider's walk.

Every job is idempotent: placing is claimed once on the call's timeline (a second run finds
the claim), and each simulated step is a callback stored once under its sequence number.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from huey import crontab

from voxbase.core import jobs
from voxbase.providers.email_delivery import DeliveryError, email_delivery
from voxbase.providers.telephony import TelephonyError, telephony_provider
from voxbase.realtime.hub import Hub, build_hub
from voxbase.telephony import amd, emails, service, sms, sweeper
from voxbase.telephony import webhooks as _inbox  # noqa: F401 (its inbox, for retry_webhooks_in)
from voxbase.telephony.replies import build_replier
from voxbase.telephony.timeline import TERMINAL, Callback

log = logging.getLogger("voxbase.telephony.tasks")


def _hub() -> Hub:
    settings = jobs.settings()
    return build_hub(settings.redis_url, settings.realtime_backend)


@jobs.queue.task(retries=2, retry_delay=10)
def place_call(call_id: str) -> None:
    settings, cid = jobs.settings(), uuid.UUID(call_id)
    dial = jobs.run(lambda session: service.claim_dial(session, cid, settings))
    if dial is None:
        return
    provider = telephony_provider(settings)
    try:
        placed = provider.place_call(dial)
    except TelephonyError as exc:
        error = str(exc)
        log.warning("placing call %s failed: %s", call_id, error)
        jobs.run(lambda session: service.dial_failed(session, cid, error, _hub()))
        return
    canceled = jobs.run(lambda session: service.dialed(session, cid, placed, _hub()))
    if canceled:
        end_call(call_id, False)
    elif provider.name == "simulated":
        simulate_call(call_id)


@jobs.queue.task(retries=3, retry_delay=10)
def end_call(call_id: str, answered: bool) -> None:
    cid = uuid.UUID(call_id)
    state = jobs.run(lambda session: service.call_state(session, cid))
    if state is None or state[1] is None:
        return
    provider = telephony_provider(jobs.settings())
    final = provider.end_call(state[1], answered=answered)
    if final is not None:  # the simulated provider settles at once; Twilio calls back
        cb = Callback(provider=provider.name, sid=state[1], key=f"end:{final}", status=final)
        jobs.run(lambda session: service.provider_step(session, cid, cb, _hub()))


def _report(call_id: uuid.UUID, cb: Callback) -> None:
    jobs.run(lambda session: service.provider_step(session, call_id, cb, _hub()))


@jobs.queue.task(retries=3, retry_delay=5)
def voicemail(call_id: str, action: str) -> None:
    """A machine answered: hang up, or leave the call's message and hang up."""
    cid = uuid.UUID(call_id)
    state = jobs.run(lambda session: service.voicemail_of(session, cid))
    if state is None:
        return
    sid, message = state
    provider = telephony_provider(jobs.settings())
    if action == "leave_message" and message:
        final = provider.leave_message(sid, message)
    else:
        final = provider.end_call(sid, answered=True)
    if final is not None:
        _report(cid, Callback(provider=provider.name, sid=sid, key=f"end:{final}", status=final))


@jobs.queue.periodic_task(crontab(minute="*/5"))
def sweep_stuck_work() -> None:
    """Jobs lost with a dead worker (ADR 0004): calls, texts and emails still to be sent."""
    found = jobs.run(lambda session: sweeper.sweep(session, _hub()))
    for call_id in found.calls:
        place_call(str(call_id))
    for message_id in found.texts:
        send_sms(str(message_id))
    for email_id in found.emails:
        send_email(str(email_id))


@jobs.queue.periodic_task(crontab(minute="*/15"))
def purge_amd_waiting_room() -> None:
    """Seed 002 keeps the AMD waiting room 24 hours."""
    jobs.run(amd.purge)


# The simulated provider: what Twilio's status callbacks would say, one step at a time.
SIMULATED_STEPS = ("ringing", "answered", "completed")


@jobs.queue.task()
def simulate_call(call_id: str) -> None:
    settings, cid = jobs.settings(), uuid.UUID(call_id)
    for sequence, status in enumerate(SIMULATED_STEPS, start=1):
        time.sleep(settings.telephony_simulated_step_seconds)
        state = jobs.run(lambda session: service.call_state(session, cid))
        if state is None or state[0] in TERMINAL or state[1] is None:
            return
        cb = Callback(
            provider="simulated",
            sid=state[1],
            key=f"status:{sequence}",
            status=status,
            sequence=sequence,
            answered_by="human" if status == "answered" else None,
            duration_seconds=settings.telephony_simulated_call_seconds
            if status == "completed"
            else None,
        )
        _report(cid, cb)
        if status == "answered" and jobs.run(lambda s: service.detects_machines(s, cid)):
            _report(
                cid,
                Callback(
                    provider="simulated",
                    sid=state[1],
                    key="amd:human",
                    kind="amd",
                    answered_by="human",
                ),
            )


# SMS ---------------------------------------------------------------------------------------


@jobs.queue.task(retries=2, retry_delay=10)
def send_sms(message_id: str) -> None:
    settings, mid = jobs.settings(), uuid.UUID(message_id)
    request = jobs.run(lambda session: sms.claim_send(session, mid, settings))
    if request is None:
        return
    provider = telephony_provider(settings)
    try:
        placed = provider.send_sms(request)
    except TelephonyError as exc:
        error = str(exc)
        log.warning("sending text %s failed: %s", message_id, error)
        jobs.run(lambda session: sms.send_failed(session, mid, error))
        return
    jobs.run(lambda session: sms.sent(session, mid, placed))
    if provider.name == "simulated":
        simulate_sms(message_id)


def _delivery(message_id: uuid.UUID, status: str) -> None:
    jobs.run(lambda session: sms.simulated_status(session, message_id, status))


@jobs.queue.task()
def simulate_sms(message_id: str) -> None:
    """The simulated provider's delivery: sent, then delivered."""
    settings, mid = jobs.settings(), uuid.UUID(message_id)
    for status in ("sent", "delivered"):
        time.sleep(settings.telephony_simulated_step_seconds)
        _delivery(mid, status)


@jobs.queue.task(retries=2, retry_delay=10)
def reply_sms(inbound_id: str) -> None:
    """An AI reply to an inbound text, at most one per text (idempotent)."""
    settings, iid = jobs.settings(), uuid.UUID(inbound_id)
    context = jobs.run(lambda session: sms.reply_context(session, iid))
    if context is None:
        return
    text = asyncio.run(build_replier(settings).reply(*context))
    if text:
        jobs.run(lambda session: sms.store_reply(session, iid, text, settings))


# Emails ------------------------------------------------------------------------------------


@jobs.queue.task(retries=2, retry_delay=10)
def send_email(email_id: str) -> None:
    settings, eid = jobs.settings(), uuid.UUID(email_id)
    outgoing = jobs.run(lambda session: emails.claim_send(session, eid))
    if outgoing is None:
        return
    try:
        message_id = asyncio.run(email_delivery(settings).deliver(outgoing))
    except DeliveryError as exc:
        error = str(exc)
        log.warning("sending email %s failed: %s", email_id, error)
        jobs.run(lambda session: emails.send_failed(session, eid, error))
        return
    jobs.run(lambda session: emails.sent(session, eid, message_id))
