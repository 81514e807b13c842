"""Summaries: read, mark done, export; the job steps that generate them.

Action items carry `due` (an ISO date) and `due_phrase` (what was said): the phrase is
resolved against the day the conversation took place in the user's time zone
(`conversations/due_dates.py` says how, and what it does not understand). Summaries written
before due dates were dates keep their phrase as `due_phrase` with a null `due`.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import service as accounts
from voxbase.assistants import service as assistants
from voxbase.audit import service as audit
from voxbase.conversations import repository, usage
from voxbase.conversations.models import (
    Conversation,
    Summary,
)
from voxbase.conversations.ownership import owned
from voxbase.conversations.schemas import (
    SummaryOut,
)
from voxbase.conversations.summarizer import Line, Summarizer, SummaryInput, action_line
from voxbase.core import clock, events
from voxbase.core.errors import Conflict, NotFound
from voxbase.core.principal import SYSTEM, Principal
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose

# Domain events (notifications and outgoing webhooks subscribe to them).
SUMMARY_READY = "conversation.summary_ready"
SUMMARY_FAILED = "conversation.summary_failed"

# Summaries -----------------------------------------------------------------------------------

NO_AI_CONSENT = "No summary: consent to ai_processing is withdrawn (POST /v1/me/consents)."


async def _summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, *, lock: bool = False
) -> Summary:
    await owned(session, principal, conversation_id)
    row = await repository.get_summary(session, conversation_id, lock=lock)
    if row is None:
        raise NotFound("This conversation has no summary yet; end it first.")
    return row


async def get_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID
) -> SummaryOut:
    return SummaryOut.model_validate(await _summary(session, principal, conversation_id))


async def mark_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, done: bool
) -> SummaryOut:
    row = await _summary(session, principal, conversation_id, lock=True)
    before = row.is_marked_done
    row.is_marked_done = done
    await session.flush()
    await audit.record(
        session,
        principal,
        "summary.marked_done",
        "summary",
        row.id,
        before={"is_marked_done": before},
        after={"is_marked_done": done},
    )
    return SummaryOut.model_validate(row)


def render_markdown(summary: SummaryOut) -> str:
    lines = [f"# {summary.title or 'Conversation summary'}", ""]
    if summary.tldr:
        lines += ["**TL;DR** " + summary.tldr, ""]
    lines += ["## Key decisions", *([f"- {d}" for d in summary.key_decisions] or ["- None."]), ""]
    actions = [
        action_line(item.text, item.owner, item.due, item.due_phrase)
        for item in summary.action_items
    ]
    lines += ["## Action items", *(actions or ["- None."]), ""]
    lines += [
        "## Follow-up questions",
        *([f"- {q}" for q in summary.follow_up_questions] or ["- None."]),
        "",
    ]
    if summary.structured_notes:
        lines += ["## Notes", "", summary.structured_notes.strip(), ""]
    if summary.full_transcript:
        lines += ["## Transcript", "", "```", summary.full_transcript, "```", ""]
    return "\n".join(lines)


async def export_summary(
    session: AsyncSession, principal: Principal, conversation_id: uuid.UUID, fmt: str
) -> tuple[str, str, str]:
    """(body, media type, file name); counts the export."""
    row = await _summary(session, principal, conversation_id, lock=True)
    if row.status != "completed":
        raise Conflict(f"The summary is {row.status}; export it once it is completed.")
    row.export_count += 1
    row.last_exported_at = clock.now()
    await session.flush()
    await audit.record(
        session, principal, "summary.exported", "summary", row.id, after={"format": fmt}
    )
    view = SummaryOut.model_validate(row)
    name = f"summary-{conversation_id}"
    if fmt == "json":
        return view.model_dump_json(indent=2), "application/json", f"{name}.json"
    return render_markdown(view), "text/markdown; charset=utf-8", f"{name}.md"


async def mark_summary_generating(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """Job step 1: claim the pending summary; False when there is nothing to do."""
    row = await repository.get_summary(session, conversation_id, lock=True)
    if row is None or row.status == "completed":
        return False
    row.status, row.error = "generating", None
    await session.flush()
    return True


async def _conversation_day(session: AsyncSession, conversation: Conversation) -> date:
    """The day the conversation took place, in its user's time zone (due dates' "today")."""
    moment = conversation.started_at or conversation.created_at or clock.now()
    try:
        zone = ZoneInfo((await accounts.admin_get_user(session, conversation.user_id)).timezone)
    except (NotFound, ZoneInfoNotFoundError, ValueError):
        return moment.date()
    return moment.astimezone(zone).date()


async def generate_summary(
    session: AsyncSession, conversation_id: uuid.UUID, summarizer: Summarizer
) -> None:
    """Job step 2: write every field of the summary from the transcript or the messages."""
    row = await repository.get_summary(session, conversation_id, lock=True)
    conversation = await repository.get_conversation_any(session, conversation_id)
    if row is None or conversation is None or row.status == "completed":
        return
    if not await consents.has_consent(session, row.user_id, Purpose.AI_PROCESSING):
        row.status, row.error = "failed", NO_AI_CONSENT
        await session.flush()
        return
    started = time.perf_counter()
    segments = await repository.all_segments(session, conversation_id)
    if segments:
        lines = [Line(s.speaker, s.content, s.start_seconds) for s in segments]
    else:
        lines = [
            Line(m.role, m.content) for m in await repository.all_messages(session, conversation_id)
        ]
    template = await assistants.template_by_id(session, conversation.template_id)
    result = await summarizer.summarize(
        SummaryInput(
            lines=lines,
            conversation_type=conversation.conversation_type,
            title_hint=conversation.title,
            summary_template=template.summary_template if template else None,
            context_instructions=template.context_instructions if template else None,
            today=await _conversation_day(session, conversation),
        )
    )
    row.title = result.title
    row.tldr = result.tldr
    row.key_decisions = result.key_decisions
    row.action_items = result.action_items
    row.follow_up_questions = result.follow_up_questions
    row.full_transcript = result.full_transcript
    row.structured_notes = result.structured_notes
    row.model_used = result.model_used
    row.generation_time_seconds = Decimal(str(round(time.perf_counter() - started, 2)))
    row.status, row.error = "completed", None
    await session.flush()
    await usage.reporter().consume(
        session,
        row.user_id,
        "summary_generation",
        Decimal(1),
        key=f"summary:{row.id}",
        conversation_id=row.conversation_id,
    )
    await audit.record(session, SYSTEM, "summary.generated", "summary", row.id)
    await events.publish(
        session,
        SUMMARY_READY,
        {
            "conversation_id": conversation_id,
            "summary_id": row.id,
            "user_id": row.user_id,
            "title": row.title,
        },
    )


async def fail_summary(session: AsyncSession, conversation_id: uuid.UUID, error: str) -> None:
    row = await repository.get_summary(session, conversation_id, lock=True)
    if row is not None and row.status != "completed":
        row.status, row.error = "failed", error[:2000]
        await session.flush()
        await audit.record(session, SYSTEM, "summary.failed", "summary", row.id)
        await events.publish(
            session,
            SUMMARY_FAILED,
            {"conversation_id": conversation_id, "summary_id": row.id, "user_id": row.user_id},
        )


async def resume_skipped_summaries(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Consent to ai_processing was granted (again): the summaries skipped for the lack of it
    are queued now, for conversations whose transcript the retention still keeps; the job
    checks the consent again when it runs. Returns how many were queued."""
    from voxbase.conversations import tasks
    from voxbase.core import jobs

    rows = await repository.summaries_failed_with(session, user_id, NO_AI_CONSENT)
    for row in rows:
        row.status, row.error = "pending", None
        jobs.enqueue_after_commit(session, tasks.generate_summary, str(row.conversation_id))
    await session.flush()
    return len(rows)


async def stuck_summaries(session: AsyncSession, older_than: timedelta) -> list[uuid.UUID]:
    """Summaries still pending or generating long after their job should have finished."""
    return await repository.stuck_summaries(session, clock.now() - older_than)
