"""Erasure rules: who may erase whom, and the job that erases accounts whose
deletion grace period is over (policy `deleted_accounts`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.accounts import deletion
from voxbase.core import clock, jobs
from voxbase.core.db import Database, unit_of_work
from voxbase.core.errors import NotFound
from voxbase.core.principal import Principal
from voxbase.privacy import repository
from voxbase.privacy.erase import begin, erase_user
from voxbase.privacy.schemas import ErasureOut
from voxbase.providers.storage import FileStorage

JOB_BATCH = 100


async def admin_erase(session: AsyncSession, admin: Principal, user_id: uuid.UUID) -> ErasureOut:
    """Erase an account now, whatever its state: the erasure is begun in the request (its
    record names the administrator) and carried out by a job, in batches, after the commit;
    the periodic job finishes it should that one be lost."""
    from voxbase.privacy import tasks

    await deletion.close_for_erasure(session, admin, user_id)
    record, _subject = await begin(session, user_id, "admin", admin)
    jobs.enqueue_after_commit(session, tasks.erase_account, str(user_id))
    return ErasureOut.model_validate(record)


async def get_erasure(session: AsyncSession, erasure_id: uuid.UUID) -> ErasureOut:
    record = await repository.get_erasure(session, erasure_id)
    if record is None:
        raise NotFound("No such erasure.")
    return ErasureOut.model_validate(record)


async def erase_expired_accounts(
    db: Database, storage: FileStorage, settings_retention: Mapping[str, str] | None = None
) -> list[uuid.UUID]:
    """Erase deleted accounts whose grace period is over, and finish interrupted erasures.

    Returns the erasure record ids."""
    async with unit_of_work(db) as session:
        grace = await deletion.grace_period(session, settings_retention)
        pending = await repository.running_user_ids(session)
        if grace is not None:
            pending += await deletion.deleted_before(session, clock.now() - grace, JOB_BATCH)
    done = []
    for user_id in dict.fromkeys(pending):
        done.append((await erase_user(db, storage, user_id, reason="account_deleted")).id)
    return done
