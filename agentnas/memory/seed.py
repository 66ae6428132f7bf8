"""Seed knowledge: the curated design insights shipped in `memory/insights.jsonl`.

Each line is one `Insight` (what to do, when it applies, what it should change, and the
paper it comes from). They are embedded with the same MiniLM as hypotheses on first use;
the matrix is cached under `<cache_dir>/memory-seed/`, keyed by the sha256 of the embedded
texts and the encoder version, so a later process loads it without the text model. Retrieval is exact
(cosine over a few dozen rows).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentnas.encode.embed import ENCODING_VERSION, MODEL_NAME, TEXT_DIM
from agentnas.memory.text import TextEmbedder, minilm_embedder
from agentnas.paths import shipped_dir

INSIGHTS_FILE = "insights.jsonl"


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    authors: str = Field(min_length=1)
    year: int = Field(ge=1950, le=2100)
    title: str = Field(min_length=1)

    def cite(self) -> str:
        first = self.authors.split(",")[0].strip()
        more = " et al." if "," in self.authors else ""
        return f"{first}{more} ({self.year}), {self.title}"


class Insight(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    insight: str = Field(min_length=10)
    applies_when: str = Field(min_length=5)
    expected_effect: str = Field(min_length=5)
    source: Source
    tags: list[str] = []

    def text(self) -> str:
        """What is embedded: its name (the id in words: "residual connections"), the design
        idea, the situation it is for and its topics."""
        topics = f" Topics: {', '.join(t.replace('-', ' ') for t in self.tags)}." if self.tags else ""
        return f"{self.id.replace('-', ' ')}: {self.insight} Applies when: {self.applies_when}{topics}"


def read_insights(path: Path | None = None) -> list[Insight]:
    """Parse and validate the insights file; a bad line raises ValueError naming it."""
    path = path or shipped_dir("memory") / INSIGHTS_FILE
    insights: list[Insight] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            insights.append(Insight.model_validate_json(line))
        except ValidationError as e:
            raise ValueError(f"{path} line {n}: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}") from e
    ids = [i.id for i in insights]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate insight ids")
    return insights


class SeedKnowledge:
    """The insights and their unit vectors, searchable by text or by vector."""

    def __init__(self, insights: list[Insight], vectors: np.ndarray) -> None:
        if vectors.shape != (len(insights), TEXT_DIM):
            raise ValueError(f"{vectors.shape[0]} vectors for {len(insights)} insights")
        self.insights, self.vectors = insights, vectors.astype(np.float32)
        self._embedder: TextEmbedder | None = None

    def __len__(self) -> int:
        return len(self.insights)

    def get(self, id: str) -> Insight | None:
        return next((i for i in self.insights if i.id == id), None)

    def search(self, query: str | np.ndarray, k: int = 3, embedder: TextEmbedder | None = None
               ) -> list[tuple[Insight, float]]:
        """The `k` insights nearest to the query (text or vector), with cosine distances."""
        if k <= 0 or not self.insights:
            return []
        if isinstance(query, str):
            embed = embedder or self._embedder or minilm_embedder()
            vector = embed([query])[0]
        else:
            vector = np.asarray(query, dtype=np.float32).reshape(-1)
        vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        distances = 1.0 - self.vectors @ vector
        order = np.argsort(distances, kind="stable")[:k]
        return [(self.insights[i], float(distances[i])) for i in order]


def load_seed_knowledge(cache_dir: Path | None = None, embedder: TextEmbedder | None = None,
                        path: Path | None = None) -> SeedKnowledge:
    """The shipped insights (or `path`), embedded on first use and cached in `cache_dir`."""
    path = path or shipped_dir("memory") / INSIGHTS_FILE
    insights = read_insights(path)
    embed = embedder or minilm_embedder(cache_dir)
    cached: Path | None = None
    if cache_dir is not None and embedder is None:  # a custom embedder's vectors are not MiniLM's: never cache them
        texts = "\n".join(i.text() for i in insights) + f"\n{MODEL_NAME}-v{ENCODING_VERSION}"
        key = hashlib.sha256(texts.encode()).hexdigest()[:24]  # what is embedded, not the file's bytes
        cached = Path(cache_dir) / "memory-seed" / f"insights-{key}.npy"
        try:
            vectors = np.load(cached, allow_pickle=False)
            if vectors.shape == (len(insights), TEXT_DIM):
                seed = SeedKnowledge(insights, vectors)
                seed._embedder = embed
                return seed
        except (OSError, ValueError):
            pass
    vectors = embed([i.text() for i in insights])
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + f".tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(vectors, dtype=np.float32))
        os.replace(tmp, cached)
    seed = SeedKnowledge(insights, np.asarray(vectors, dtype=np.float32))
    seed._embedder = embed
    return seed


def insight_json(insight: Insight) -> str:
    return json.dumps(insight.model_dump(mode="json"), ensure_ascii=False)
