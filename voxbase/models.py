"""The module registry: import every module's models (for the metadata and Alembic) and tasks."""

import importlib

MODEL_MODULES = (
    "voxbase.accounts.models",
    "voxbase.audit.models",
    "voxbase.assistants.models",
    "voxbase.conversations.models",
    "voxbase.knowledge.models",
)


def load_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)


TASK_MODULES: tuple[str, ...] = ("voxbase.conversations.tasks", "voxbase.knowledge.tasks")


def load_all_tasks() -> None:
    """Register every module's background jobs on the queue."""
    for name in TASK_MODULES:
        importlib.import_module(name)
