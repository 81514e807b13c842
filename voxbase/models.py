"""The module registry: import every module's models (for the metadata and Alembic) and tasks."""

import importlib
import importlib.util
import re

MODEL_MODULES = (
    "voxbase.accounts.models",
    "voxbase.audit.models",
    "voxbase.metering.models",
    "voxbase.billing.models",
    "voxbase.assistants.models",
    "voxbase.conversations.models",
    "voxbase.knowledge.models",
    "voxbase.teams.models",
    "voxbase.privacy.models",
    "voxbase.privacy.export_models",
    "voxbase.admin.models",
    "voxbase.telephony.models",
    "voxbase.webhooks.models",
    "voxbase.notifications.models",
    "voxbase.monetization.models",
    "voxbase.content.models",
    "voxbase.core.idempotency",
)


def load_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


def load_privacy_rules() -> None:
    """Import each module's privacy rules: `voxbase/<module>/privacy.py` beside its models
    (a model module that is not a `models.py`, like core's, declares its rules itself)."""
    load_all_models()
    for name in MODEL_MODULES:
        package, _, leaf = name.rpartition(".")
        if leaf == "models" and importlib.util.find_spec(f"{package}.privacy") is not None:
            importlib.import_module(f"{package}.privacy")


TASK_MODULES: tuple[str, ...] = (
    "voxbase.metering.tasks",
    "voxbase.billing.tasks",
    "voxbase.conversations.tasks",
    "voxbase.knowledge.tasks",
    "voxbase.telephony.tasks",
    "voxbase.privacy.tasks",
    "voxbase.privacy.export_tasks",
    "voxbase.core.tasks",
    "voxbase.webhooks.tasks",
    "voxbase.notifications.tasks",
    "voxbase.content.tasks",
)


def load_all_tasks() -> None:
    """Register every module's background jobs on the queue."""
    for name in TASK_MODULES:
        importlib.import_module(name)


# Schema objects that migrations create outside the models: full-text search indexes
# (PostgreSQL: a generated `search_vector` column and its GIN index; MariaDB FULLTEXT),
# SQLite FTS5 tables with their shadow tables, and pgvector's `embedding_vector` (when the
# extension is there). Autogenerate and schema comparisons pass `include_name` to leave them alone.
UNMANAGED_NAMES = re.compile(
    r"^(messages|transcript_segments)_fts(_\w+)?$|_content_(tsv|ft)$|^search_vector$"
    r"|^embedding_vector$"  # pgvector's copy of document_chunks.embedding (migration 1340)
)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return name is None or not UNMANAGED_NAMES.search(name)
