"""A conversation's recording, held in file storage until the summary is generated (seed 001:
"audio files deleted after summary generation").

`PUT /v1/conversations/{id}/audio` stores it (consent to `recording` required); once the
summary job has written the summary, `drop_audio` deletes the file and sets
`audio_deleted_at`. The `audio` retention policy is the backstop: the purge clears what is left
that long after the recording ended.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.audit import service as audit
from voxbase.conversations import repository
from voxbase.conversations.ownership import owned
from voxbase.conversations.schemas import ConversationOut
from voxbase.core import clock
from voxbase.core.db import after_commit
from voxbase.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from voxbase.core.ids import new_id
from voxbase.core.principal import SYSTEM, Principal
from voxbase.privacy import consents
from voxbase.privacy.schemas import Purpose
from voxbase.providers.storage import FileStorage

log = logging.getLogger("voxbase.conversations.audio")

AUDIO_TYPES = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/webm": "webm",
    "audio/flac": "flac",
}


class TooLarge(ServiceError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class UnsupportedType(ServiceError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


def _delete_after_commit(session: AsyncSession, storage: FileStorage, key: str | None) -> None:
    if not key:
        return

    async def remove() -> None:
        try:
            await storage.delete(key)
        except FileNotFoundError:
            pass
        except Exception:  # the reference is gone; the purge's audio policy is the backstop
            log.warning("could not delete the audio %s", key, exc_info=True)

    after_commit(session, remove)


async def store_audio(
    session: AsyncSession,
    principal: Principal,
    storage: FileStorage,
    conversation_id: uuid.UUID,
    data: bytes,
    content_type: str,
    max_bytes: int,
) -> ConversationOut:
    row = await owned(session, principal, conversation_id, lock=True)
    await consents.require_consent(session, row.user_id, Purpose.RECORDING)
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind not in AUDIO_TYPES:
        raise UnsupportedType(f"Audio must be one of {', '.join(sorted(set(AUDIO_TYPES)))}.")
    if len(data) > max_bytes:
        raise TooLarge(f"The recording is larger than {max_bytes} bytes.")
    if not data:
        raise InvalidInput("The recording is empty.", field="file")
    summary = await repository.get_summary(session, row.id)
    if summary is not None and summary.status == "completed":
        raise Conflict("The summary is written: the recording is no longer kept.")
    key = f"audio/{row.user_id}/{row.id}/{new_id()}.{AUDIO_TYPES[kind]}"
    await storage.put(key, data)
    _delete_after_commit(session, storage, row.audio_key)  # the one it replaces
    row.audio_key, row.audio_content_type, row.audio_deleted_at = key, kind, None
    await session.flush()
    await audit.record(
        session,
        principal,
        "conversation.audio_stored",
        "conversation",
        row.id,
        after={"bytes": len(data), "content_type": kind},
    )
    return ConversationOut.model_validate(row)


async def read_audio(
    session: AsyncSession, principal: Principal, storage: FileStorage, conversation_id: uuid.UUID
) -> tuple[bytes, str]:
    row = await owned(session, principal, conversation_id)
    if row.audio_key is None:
        raise NotFound("This conversation holds no recording.")
    return await storage.get(row.audio_key), row.audio_content_type or "application/octet-stream"


async def drop_audio(
    session: AsyncSession, storage: FileStorage, conversation_id: uuid.UUID
) -> bool:
    """Delete the recording once the summary is generated; True when there was one."""
    row = await repository.get_conversation_any(session, conversation_id)
    if row is None or (row.audio_key is None and row.audio_url is None):
        return False
    _delete_after_commit(session, storage, row.audio_key)
    row.audio_key = row.audio_content_type = row.audio_url = None
    row.audio_deleted_at = clock.now()
    await session.flush()
    await audit.record(session, SYSTEM, "conversation.audio_deleted", "conversation", row.id)
    return True


async def forget_stored_audio(
    session: AsyncSession, storage: FileStorage, user_id: uuid.UUID
) -> int:
    """Delete every recording of a person (consent to `recording` withdrawn)."""
    rows = await repository.conversations_with_audio(session, user_id)
    for row in rows:
        _delete_after_commit(session, storage, row.audio_key)
        row.audio_key = row.audio_content_type = None
        row.audio_deleted_at = clock.now()
    await session.flush()
    return len(rows)
