"""Import every module's models so the metadata (and Alembic) sees all tables."""

import importlib

MODEL_MODULES = ("voxbase.accounts.models", "voxbase.audit.models")


def load_all_models() -> None:
    for name in MODEL_MODULES:
        importlib.import_module(name)
