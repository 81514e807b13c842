"""File storage behind a small interface; local disk by default (data_dir/files)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

from voxbase.core.config import Settings


class FileStorage(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes: ...

    async def delete(self, key: str) -> None: ...

    async def put_file(self, key: str, source: Path) -> None:
        """Store a local file under `key` without reading it into memory (it is moved)."""
        ...

    def stream(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The stored bytes in chunks (FileNotFoundError when there are none)."""
        ...


class LocalDiskStorage:
    """Keys are relative paths made by the service (never user input); writes are atomic."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(path)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, True)

    def _put_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        shutil.move(source, partial)  # a rename on the same file system, else a copy
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        partial.replace(path)

    async def put_file(self, key: str, source: Path) -> None:
        await asyncio.to_thread(self._put_file, key, source)

    async def stream(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()


def file_storage(settings: Settings) -> FileStorage:
    return LocalDiskStorage(settings.data_dir / "files")


def app_storage(state: Any) -> FileStorage:
    """The app's file storage (one per app, made on first use from its settings)."""
    if getattr(state, "file_storage", None) is None:
        state.file_storage = file_storage(state.settings)
    storage: FileStorage = state.file_storage
    return storage
