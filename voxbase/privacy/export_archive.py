"""The GDPR export archive (Art. 15 and 20): a ZIP written entry by entry to a file.

It knows no module's schema: every table of the privacy registry with an `export` name gives
`<name>.json` (the person's own rows: subject columns or a parent row of theirs, never rows of
other people that only point at or mention them), in batches, each written to the archive
before the next is read, so nothing is held in memory but one batch. Files named by a rule's
`files` columns (uploaded documents, ...) are copied from file storage in chunks under
`files/`. `information.json` holds what Art. 15(1) lists (purposes, recipients, retention
periods, source, rights) and `manifest.json` says what each file holds and how many records.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from voxbase.core import clock
from voxbase.core.config import Settings
from voxbase.core.db import Base, Database, unit_of_work
from voxbase.core.privacy import Rule, Subject, registry
from voxbase.models import load_privacy_rules
from voxbase.privacy import repository
from voxbase.privacy.policies import CATALOG
from voxbase.providers.storage import FileStorage

BATCH = 500
FORMAT_VERSION = 1
ANOTHER_PERSON = "[another person]"


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any, *, indent: int | None = None) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False, indent=indent)


def exported_groups() -> dict[str, list[Rule]]:
    """Export file name → the rules writing into it, parents before children."""
    load_privacy_rules()
    groups: dict[str, list[Rule]] = {}
    for table in Base.metadata.sorted_tables:
        rule = registry.rules.get(table.name)
        if rule is not None and rule.export:
            groups.setdefault(rule.export, []).append(rule)
    return groups


def _describe(rule: Rule) -> str:
    doc = (rule.model.__doc__ or "").strip()
    return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else rule.name.replace("_", " ")


def _module(rule: Rule) -> str:
    parts = rule.model.__module__.split(".")
    return parts[1] if len(parts) > 2 else rule.model.__module__


@dataclass
class StoredFile:
    table: str
    row_id: str
    column: str
    key: str


@dataclass
class Written:
    """What went into the archive: records per export file, the stored files."""

    counts: dict[str, int] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)


def _file_name(stored: StoredFile) -> str:
    leaf = stored.key.rsplit("/", 1)[-1] or "file"
    return f"files/{stored.table}/{stored.row_id}/{leaf}"


class ArchiveWriter:
    """Writes one person's archive into `out` (a file opened for writing)."""

    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        settings: Settings,
        subject: Subject,
        out: IO[bytes],
    ) -> None:
        self.db, self.storage, self.settings, self.subject = db, storage, settings, subject
        self.zip = zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self.written = Written()

    async def write(
        self,
        *,
        about: dict[str, Any],
        information: dict[str, Any],
        progress: Callable[[], Awaitable[None]] | None = None,
    ) -> Written:
        """Write the whole archive; `progress` is awaited after each file (a lease renewal)."""
        generated_at = clock.now()
        stored: list[StoredFile] = []
        groups = exported_groups()
        described: list[dict[str, Any]] = []
        for name, rules in groups.items():
            count = await self._records(name, rules, stored)
            if progress is not None:
                await progress()
            self.written.counts[name] = count
            described.append(
                {
                    "file": f"{name}.json",
                    "holds": "; ".join(dict.fromkeys(_describe(r) for r in rules)),
                    "module": ", ".join(dict.fromkeys(_module(r) for r in rules)),
                    "tables": [r.name for r in rules],
                    "records": count,
                    "retention": sorted({p.policy for r in rules for p in r.retention}),
                }
            )
        for item in stored:
            await self._copy(item)
        self._json("information.json", information)
        described.append(
            {
                "file": "information.json",
                "holds": "What GDPR Art. 15(1) lists: purposes, "
                "recipients, retention periods, source and your rights",
                "records": None,
            }
        )
        manifest = {
            "format": "voxbase-export",
            "version": FORMAT_VERSION,
            "generated_at": generated_at,
            "subject": about,
            "files": described,
            "stored_files": self.written.files,
        }
        self._json("manifest.json", manifest)
        self.zip.close()
        return self.written

    def _json(self, name: str, value: Any) -> None:
        with self.zip.open(name, "w", force_zip64=True) as entry:
            entry.write(dumps(value, indent=2).encode())

    async def _records(self, name: str, rules: list[Rule], stored: list[StoredFile]) -> int:
        """`<name>.json`: a JSON array written batch by batch."""
        count = 0
        with self.zip.open(f"{name}.json", "w", force_zip64=True) as entry:
            entry.write(b"[")
            for rule in rules:
                async for batch in self._batches(rule):
                    for row in batch:
                        stored.extend(self._stored(rule, row))
                        entry.write((",\n" if count else "\n").encode() + dumps(row).encode())
                        count += 1
            entry.write(b"\n]\n" if count else b"]\n")
        return count

    async def _batches(self, rule: Rule) -> AsyncIterator[list[dict[str, Any]]]:
        where = repository.own_rows(registry, rule, self.subject)
        if where is None:
            return
        key = repository.primary_key(rule.table).name
        columns = rule.exported_columns()
        keep = set(columns) | set(rule.files)
        last: Any = None
        while True:
            async with unit_of_work(self.db) as session:
                page = await repository.page(session, rule.table, where, after=last, limit=BATCH)
            if not page:
                return
            last = page[-1]._mapping[key]
            yield [self._own(rule, row._mapping, keep) for row in page]
            if len(page) < BATCH:
                return

    def _own(self, rule: Rule, row: Any, keep: set[str]) -> dict[str, Any]:
        """The exported columns of one of the person's rows; a `refs` column naming someone
        else (who invited them) says only that it was another person (Art. 15(4))."""
        values = {k: v for k, v in row.items() if k in keep}
        ids = {str(i) for i in self.subject.ids}
        for name in rule.refs:
            value = values.get(name)
            if value is not None and str(value) not in ids:
                values[name] = ANOTHER_PERSON
        return values

    def _stored(self, rule: Rule, row: dict[str, Any]) -> Iterator[StoredFile]:
        """The row's stored files (their columns leave the row unless exported)."""
        key_name = repository.primary_key(rule.table).name
        exported = rule.exported_columns()
        found = []
        for column in rule.files:
            value = row.get(column) if column in exported else row.pop(column, None)
            if value:
                found.append(StoredFile(rule.name, str(row[key_name]), column, str(value)))
        return iter(found)

    async def _copy(self, stored: StoredFile) -> None:
        name = _file_name(stored)
        size = 0
        try:
            with self.zip.open(name, "w", force_zip64=True) as entry:
                async for chunk in self.storage.stream(stored.key):
                    entry.write(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            self.written.files.append(
                {"file": None, "table": stored.table, "row_id": stored.row_id, "missing": True}
            )
            return
        self.written.files.append(
            {
                "file": name,
                "table": stored.table,
                "row_id": stored.row_id,
                "column": stored.column,
                "bytes": size,
            }
        )


# Art. 15(1) ---------------------------------------------------------------------------------

PURPOSES: list[dict[str, str]] = [
    {
        "purpose": "account",
        "what": "Your account, profile, sign-in sessions, devices and API keys",
        "legal_basis": "contract (GDPR Art. 6(1)(b))",
    },
    {
        "purpose": "service",
        "what": "Conversations, transcripts, summaries, guidance, documents, templates, "
        "prompts, personas, calls, texts and emails you use the service for",
        "legal_basis": "contract (GDPR Art. 6(1)(b))",
    },
    {
        "purpose": "billing",
        "what": "Plans, subscriptions, usage metering, credits, invoices and payments",
        "legal_basis": "contract, and commercial and tax law for kept records "
        "(GDPR Art. 6(1)(b), (c))",
    },
    {
        "purpose": "security_and_accountability",
        "what": "The audit trail of changes and the service's warning and error logs",
        "legal_basis": "legitimate interests in a secure, accountable service "
        "(GDPR Art. 6(1)(f)); erasure records (Art. 6(1)(c), 17)",
    },
    {
        "purpose": "teams",
        "what": "Teams you own or joined, their members and invitations",
        "legal_basis": "contract (GDPR Art. 6(1)(b))",
    },
    {
        "purpose": "notifications_and_integrations",
        "what": "In-app notifications and emails about your account; webhook messages to "
        "the endpoints you or your teams registered",
        "legal_basis": "contract (GDPR Art. 6(1)(b))",
    },
]


def _host(url: str | None) -> str | None:
    return urlsplit(url).hostname if url else None


def recipients(settings: Settings) -> list[dict[str, Any]]:
    """The providers this deployment is configured to pass personal data to (Art. 15(1)(c))."""
    found: list[dict[str, Any]] = []

    def add(category: str, provider: str, what: str, where: str | None = None) -> None:
        found.append({"category": category, "provider": provider, "what": what, "where": where})

    if settings.payment_provider == "stripe":
        add("payments", "Stripe", "your email, name, subscription and payment details")
    if settings.email_backend == "smtp":
        add("email", "SMTP server", "your email address and account emails", settings.smtp_host)
    if settings.email_delivery == "sendgrid":
        add("email", "Twilio SendGrid", "emails sent for you: recipient, subject, content")
    elif settings.email_delivery == "smtp":
        add(
            "email",
            "SMTP server",
            "emails sent for you: recipient, subject, content",
            settings.smtp_host,
        )
    if settings.telephony_provider == "twilio":
        add("telephony", "Twilio", "calls and texts placed for you: numbers, content, audio")
    uses_llm = "llm" in (
        settings.guidance_engine,
        settings.summary_engine,
        settings.telephony_sms_reply_engine,
    )
    if uses_llm and settings.llm_base_url:
        add(
            "llm",
            "language model API",
            "transcripts and messages for guidance, summaries and replies",
            _host(settings.llm_base_url),
        )
    if settings.embeddings_base_url:
        add(
            "embeddings",
            "embeddings API",
            "the text of your documents",
            _host(settings.embeddings_base_url),
        )
    add(
        "webhooks",
        "your integrations",
        "event messages about your account, to the webhook "
        "endpoints you or your teams registered (webhook_endpoints.json)",
    )
    return found


async def retention_periods(session: AsyncSession, settings: Settings) -> list[dict[str, str]]:
    """Every retention policy and its period in force (Art. 15(1)(d))."""
    from voxbase.privacy.retention import in_force

    periods = await in_force(session, settings.retention)
    return [
        {"policy": key, "period": periods[key].value, "what": what}
        for key, what in CATALOG.items()
        if key in periods
    ]


async def information(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> dict[str, Any]:
    return {
        "purposes": PURPOSES,
        "consents": await consent_states(session, user_id),
        "categories": sorted(exported_groups()),
        "recipients": recipients(settings),
        "retention": await retention_periods(session, settings),
        "source": "you (what you entered, uploaded and said), your devices (sign-in sessions), "
        "members of your teams, and the payment, telephony and email providers' notifications "
        "about what was done for you",
        "automated_decisions": "none with legal or similarly significant effects (GDPR Art. 22)",
        "rights": "rectification (PATCH /v1/me), erasure (DELETE /v1/me), restriction and "
        "objection (POST /v1/me/consents), portability (this archive), and a complaint to a "
        "supervisory authority",
    }


async def consent_states(session: AsyncSession, user_id: uuid.UUID) -> list[dict[str, Any]]:
    from voxbase.core.principal import Principal
    from voxbase.privacy import service

    states = await service.consents(session, Principal(user_id=user_id))
    return [state.model_dump(mode="json") for state in states.current]
