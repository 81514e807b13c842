"""The privacy registry: what each table holds about a person, and what happens to it.

Every table is declared once, beside its models, in its module's `privacy.py`
(`voxbase/<module>/privacy.py`, found automatically next to `models.py`):

    # voxbase/knowledge/privacy.py
    from voxbase.core.privacy import DELETE, Retention, registry
    from voxbase.knowledge.models import Document

    registry.table(
        Document,
        subject="user_id",               # column(s) holding the id of the person the row is about
        export="documents",              # their GDPR export gets documents.json (None: not in it)
        erase=DELETE,                    # GDPR erase deletes the rows ...
        retention=Retention("deleted_items", after="deleted_at"),   # ... and so does the purge
        files=("storage_key",),          # stored files: in the export, deleted with the row
    )

Rows that the law makes us keep are pseudonymised instead, naming the reason; the person's
id is replaced by an erased-subject token and the listed columns are scrubbed:

    registry.table(
        Invoice,
        subject="user_id",
        export="invoices",
        erase=Pseudonymise("invoices are kept as commercial and tax law require",
                           columns={"idempotency_key": NULL}),
        retention=Retention("billing_records", after="created_at"),
    )

A table that can never hold data about a person says why:

    registry.no_personal_data(Plan, "the plan catalog, the same for everyone")

Other ways to find a person's rows: `refs` (columns of *other* people's rows that point at the
person: replaced by the token, or NULL when they are foreign keys), `mentions` (text or JSON
columns searched for the person's identifiers: email, name, phone numbers, provider ids),
`parent` (rows that belong to a row of another declared table), and `column("subject_id",
subject_type="user")` for typed subjects. When no declaration fits, `Custom(fn, reason)` runs
the module's own function. The `privacy` module drives the registry (export, erase, purges);
`tests/privacy/test_registry.py` fails for any table without a rule, and the erase scan test
(`tests/privacy/test_erase.py`) proves that nothing of an erased person is left.
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.ext.asyncio import AsyncSession


class Scrub(enum.Enum):
    """What a kept (pseudonymised) row gets instead of a value."""

    TOKEN = "token"  # the erased-subject token (id columns that held one of the person's ids)
    NULL = "null"
    REDACT = "redact"  # text → "[erased]"; JSON → same shape, every value "[erased]"
    MENTIONS = "mentions"  # only the person's identifiers inside the text/JSON are replaced
    RANDOM = "random"  # a fresh unique value (unique keys that may embed an identifier)


TOKEN, NULL, REDACT, MENTIONS, RANDOM = Scrub
ERASED = "[erased]"


@dataclass(frozen=True)
class Delete:
    """GDPR erase deletes the person's rows (and their files)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = Delete()


@dataclass(frozen=True)
class Pseudonymise:
    """Keep the rows, without the person: `reason` is the legal ground for keeping them.

    Subject columns get the erased-subject token; `columns` says what else the person's rows
    get; `mentioned` what rows that only mention them get (default: MENTIONS on `mentions`).
    """

    reason: str
    columns: Mapping[str, Scrub | str | None] = field(default_factory=dict)
    mentioned: Mapping[str, Scrub | str | None] | None = None


def Keep(reason: str) -> Pseudonymise:
    """Rows kept as they are: they hold no identifier (e.g. lines of a kept invoice)."""
    return Pseudonymise(reason)


MIN_TEXT = 3  # shorter strings (a two-letter username) would match ordinary words


@dataclass(frozen=True)
class Subject:
    """Who is being exported or erased, with every identifier the modules know of."""

    user_id: uuid.UUID
    # Replaces the person's id in kept rows; random per erasure, linked to nobody.
    token: uuid.UUID
    # The user id plus linked ids (API keys, ...) that appear in other rows.
    ids: frozenset[uuid.UUID]
    # Identifying strings: email addresses, username, names, phone numbers, provider ids.
    texts: frozenset[str]

    @cached_property
    def needles(self) -> tuple[str, ...]:
        """Every string that betrays the person, longest first (ids in both spellings)."""
        found = {str(i) for i in self.ids} | {i.hex for i in self.ids}
        found |= {t.strip() for t in self.texts if len(t.strip()) >= MIN_TEXT}
        return tuple(sorted(found, key=lambda t: (-len(t), t)))

    @cached_property
    def _patterns(self) -> list[tuple[re.Pattern[str], str]]:
        token = str(self.token)
        by_id = {str(i): token for i in self.ids} | {i.hex: self.token.hex for i in self.ids}
        return [
            (
                re.compile(r"(?<![\w])" + re.escape(needle) + r"(?![\w])", re.IGNORECASE),
                by_id.get(needle, ERASED),
            )
            for needle in self.needles
        ]

    def mentioned_in(self, value: Any) -> bool:
        """Whether a text or JSON value contains one of the person's identifiers."""
        if isinstance(value, str):
            return any(pattern.search(value) for pattern, _ in self._patterns)
        if isinstance(value, Mapping):
            return any(self.mentioned_in(k) or self.mentioned_in(v) for k, v in value.items())
        if isinstance(value, list | tuple):
            return any(self.mentioned_in(v) for v in value)
        return False

    def without_mentions(self, text: str) -> str:
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        return text


def scrub(value: Any, subject: Subject, how: Scrub | str | None) -> Any:
    """What a kept row holds instead of `value` (see `Scrub`)."""
    if how is None or how is Scrub.NULL:
        return None
    if isinstance(how, str):
        return how
    if value is None:
        return None
    if how is Scrub.RANDOM:
        return f"erased:{uuid.uuid4()}"
    if how is Scrub.TOKEN:
        if isinstance(value, uuid.UUID):
            return subject.token if value in subject.ids else value
        return subject.without_mentions(str(value))
    if isinstance(value, Mapping):
        keys = (lambda k: subject.without_mentions(k)) if how is Scrub.MENTIONS else str
        return {keys(str(k)): scrub(v, subject, how) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, subject, how) for v in value]
    if isinstance(value, str):
        return ERASED if how is Scrub.REDACT else subject.without_mentions(value)
    return value


@dataclass(frozen=True)
class Identifiers:
    ids: frozenset[uuid.UUID] = frozenset()
    texts: frozenset[str] = frozenset()


IdentifierSource = Callable[[AsyncSession, uuid.UUID], Awaitable[Identifiers]]
AfterErase = Callable[[AsyncSession], Awaitable[None]]
CustomErase = Callable[[AsyncSession, Subject], Awaitable[int]]


@dataclass(frozen=True)
class Custom:
    """Erase with the module's own function (e.g. hand a team over to another member)."""

    fn: CustomErase
    reason: str


Erase = Delete | Pseudonymise | Custom


@dataclass(frozen=True)
class Column:
    """A column that holds a person's id, optionally only when other columns match."""

    name: str
    where: tuple[tuple[str, Any], ...] = ()


def column(name: str, **where: Any) -> Column:
    """`column("subject_id", subject_type="user")`: an id column of typed subjects."""
    return Column(name, tuple(sorted(where.items())))


@dataclass(frozen=True)
class RowDays:
    """A per-row number of days that wins over the policy when shorter.

    `via` names the foreign key to the table holding it (`("conversation_id", Conversation)`),
    or is None when it is a column of the table itself.
    """

    column: str
    via: tuple[str, type[Any]] | None = None


@dataclass(frozen=True)
class Retention:
    """Rows older than the policy's period are purged by the retention job.

    `policy` is a key of the policy catalog (`voxbase/privacy/policies.py`; periods come from
    the profile, settings and admins). The period counts from `after` (a column, or several:
    whichever passes first). `where` limits the rows (`{"status": "expired"}` or a function of
    the table). `clear` names columns to empty instead of deleting the row, and `stamp` a
    column set to the time they were emptied. `row_days` lets a per-row setting shorten the
    period (seed 001 data_retention_days).
    """

    policy: str
    after: str | Sequence[str] = "created_at"
    where: Mapping[str, Any] | Callable[[Table], ColumnElement[bool]] | None = None
    clear: Sequence[str] = ()
    row_days: RowDays | None = None
    stamp: str | None = None

    @property
    def after_columns(self) -> tuple[str, ...]:
        return (self.after,) if isinstance(self.after, str) else tuple(self.after)


@dataclass(frozen=True)
class Rule:
    """The privacy rule of one table."""

    model: type[Any]
    subject: tuple[Column, ...] = ()
    refs: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    parent: tuple[str, type[Any]] | None = None
    export: str | None = None
    exclude: tuple[str, ...] = ()
    erase: Erase = DELETE
    retention: tuple[Retention, ...] = ()
    files: tuple[str, ...] = ()
    declared_in: str = ""

    @property
    def table(self) -> Table:
        return self.model.__table__

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def finds_rows(self) -> bool:
        return bool(self.subject or self.refs or self.mentions or self.parent)

    def exported_columns(self) -> list[str]:
        return [
            c.name
            for c in self.table.columns
            if c.name not in self.exclude and not c.name.endswith("_hash")
        ]


@dataclass(frozen=True)
class NoPersonalData:
    model: type[Any]
    reason: str
    declared_in: str = ""

    @property
    def table(self) -> Table:
        return self.model.__table__


def _columns(value: str | Column | Iterable[str | Column]) -> tuple[Column, ...]:
    if isinstance(value, str | Column):
        value = [value]
    return tuple(c if isinstance(c, Column) else Column(c) for c in value)


def _names(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _caller_module() -> str:
    import inspect

    frame = inspect.currentframe()
    for _ in range(2):
        frame = frame.f_back if frame else None
    return str(frame.f_globals.get("__name__", "")) if frame else ""


class Registry:
    """Every table's rule, the identifier sources and the hooks run after an erase."""

    def __init__(self) -> None:
        self.rules: dict[str, Rule] = {}
        self.exempt: dict[str, NoPersonalData] = {}
        self.identifier_sources: list[IdentifierSource] = []
        self.after_erase_hooks: list[AfterErase] = []

    def table(
        self,
        model: type[Any],
        *,
        subject: str | Column | Iterable[str | Column] = (),
        refs: str | Iterable[str] = (),
        mentions: str | Iterable[str] = (),
        parent: tuple[str, type[Any]] | None = None,
        export: str | None = None,
        exclude: str | Iterable[str] = (),
        erase: Erase = DELETE,
        retention: Retention | Iterable[Retention] = (),
        files: str | Iterable[str] = (),
    ) -> Rule:
        """Declare what `model`'s table holds about a person (see the module docstring)."""
        rule = Rule(
            model=model,
            subject=_columns(subject),
            refs=_names(refs),
            mentions=_names(mentions),
            parent=parent,
            export=export,
            exclude=_names(exclude),
            erase=erase,
            retention=(retention,) if isinstance(retention, Retention) else tuple(retention),
            files=_names(files),
            declared_in=_caller_module(),
        )
        self._check(rule)
        self._put(rule.name, rule)
        return rule

    def no_personal_data(self, model: type[Any], reason: str) -> NoPersonalData:
        """Declare that `model`'s table never holds data about a person, and why."""
        entry = NoPersonalData(model, reason, _caller_module())
        self._put(entry.table.name, entry)
        return entry

    def identifiers(self, source: IdentifierSource) -> IdentifierSource:
        """Register a function giving a person's identifiers that this module knows
        (e.g. accounts: email, username, name, phone; billing: the payment provider's
        customer id). Usable as a decorator."""
        if source not in self.identifier_sources:
            self.identifier_sources.append(source)
        return source

    def after_erase(self, hook: AfterErase) -> AfterErase:
        """Register a function run once an erasure is done, for what rows cannot say (e.g.
        compact a full-text index that still holds the erased words). Usable as a decorator."""
        if hook not in self.after_erase_hooks:
            self.after_erase_hooks.append(hook)
        return hook

    def _put(self, name: str, entry: Rule | NoPersonalData) -> None:
        previous = self.rules.get(name) or self.exempt.get(name)
        if previous is not None and previous.model is not entry.model:
            raise ValueError(f"table {name!r} already has a privacy rule ({previous.declared_in})")
        self.rules.pop(name, None)
        self.exempt.pop(name, None)
        if isinstance(entry, Rule):
            self.rules[name] = entry
        else:
            self.exempt[name] = entry

    @staticmethod
    def _check(rule: Rule) -> None:
        table = rule.table
        named = [c.name for c in rule.subject]
        named += [k for c in rule.subject for k, _ in c.where]
        named += [*rule.refs, *rule.mentions, *rule.exclude, *rule.files]
        named += [name for r in rule.retention for name in (*r.after_columns, *r.clear)]
        if rule.parent:
            named.append(rule.parent[0])
        if isinstance(rule.erase, Pseudonymise):
            named += list(rule.erase.columns)
            named += list(rule.erase.mentioned or {})
        for r in rule.retention:
            if isinstance(r.where, Mapping):
                named += list(r.where)
            if r.stamp:
                named.append(r.stamp)
            if r.row_days and r.row_days.via is None:
                named.append(r.row_days.column)
            if r.row_days and r.row_days.via:
                named.append(r.row_days.via[0])
        unknown = sorted({n for n in named if n not in table.columns})
        if unknown:
            raise ValueError(f"privacy rule of {table.name!r}: no column(s) {', '.join(unknown)}")
        if not rule.finds_rows and (rule.export or not isinstance(rule.erase, Delete)):
            raise ValueError(
                f"privacy rule of {table.name!r} says how to export or erase rows "
                "but not how to find them: give subject=, refs=, mentions= or parent="
            )
        if len(table.primary_key.columns) != 1:
            raise ValueError(f"privacy rules need a one-column primary key ({table.name!r})")

    def rule_for(self, model_or_table: type[Any] | str) -> Rule:
        name = model_or_table if isinstance(model_or_table, str) else model_or_table.__tablename__
        return self.rules[name]


registry = Registry()
