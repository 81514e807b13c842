"""Text embeddings over any OpenAI-compatible HTTP API (`POST {base}/embeddings`: OpenAI,
vLLM, Ollama, llama.cpp, text-embeddings-inference...). Without `VOXBASE_EMBEDDINGS_BASE_URL`
there is no engine and documents say `embedding_status: disabled`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from voxbase.core.config import Settings


class EmbeddingError(Exception):
    pass


class Embedder(Protocol):
    model: str

    async def embed(self, texts: list[str]) -> list[list[float]]: ...


@dataclass
class HttpEmbedder:
    base_url: str
    model: str
    api_key: str | None = None
    timeout: float = 20.0
    batch: int = 64

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text, in order (sent in batches of `batch`)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        vectors: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self.timeout) as http:
            for start in range(0, len(texts), self.batch):
                part = texts[start : start + self.batch]
                try:
                    response = await http.post(
                        f"{self.base_url.rstrip('/')}/embeddings",
                        json={"model": self.model, "input": part},
                        headers=headers,
                    )
                except httpx.HTTPError as exc:
                    raise EmbeddingError(f"embeddings API unreachable: {exc}") from exc
                if response.status_code != 200:
                    raise EmbeddingError(f"embeddings API answered {response.status_code}")
                try:
                    data = sorted(response.json()["data"], key=lambda d: d["index"])
                    got = [[float(x) for x in d["embedding"]] for d in data]
                except (ValueError, KeyError, TypeError) as exc:
                    raise EmbeddingError("embeddings API answered an unexpected shape") from exc
                if len(got) != len(part):
                    raise EmbeddingError("embeddings API answered a different number of vectors")
                vectors += got
        return vectors


def embedder_from(settings: Settings) -> Embedder | None:
    if not settings.embeddings_base_url:
        return None
    key = settings.embeddings_api_key.get_secret_value() if settings.embeddings_api_key else None
    return HttpEmbedder(
        settings.embeddings_base_url, settings.embeddings_model, key, settings.llm_timeout_seconds
    )
