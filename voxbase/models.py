"""The module registry: import every module's models (for the metadata and Alembic) and tasks."""

import importlib

MODEL_MODULES = (
    "voxbase.accounts.models",
    "voxbase.audit.models",
    "voxbase.metering.models",
    "voxbase.billing.models",
    "voxbase.teams.models",
    "voxbase.core.idempotency",
)


def load_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


TASK_MODULES: tuple[str, ...] = (
    "voxbase.metering.tasks",
    "voxbase.billing.tasks",
    "voxbase.core.tasks",
)


def load_all_tasks() -> None:
    """Register every module's background jobs on the queue."""
    for name in TASK_MODULES:
        importlib.import_module(name)
