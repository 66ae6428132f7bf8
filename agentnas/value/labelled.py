"""agentnas's labelled architectures: the stored format, one gzip-compressed JSONL file.

Line 1 is the header (`CollectionHeader`): the format's name and version, the settings the
set was collected with (everything that decides which architectures are drawn and how they
are trained), each task's recipe, the feature and grammar versions and the command that
regenerates the file. Every further line is one architecture (`LabelledArch`), in the order
it was drawn:

- `id` (the grammar tree's hash), `index` (its position in the draw), `family` (the sampling
  profile it was drawn from, families.py) and `tags` (what the tree contains);
- `arch`: the grammar tree itself (canonical JSON): `agentnas.space.render` turns it back
  into the exact candidate file, so code, ONNX graph and text can all be rebuilt;
- per task: `code_hash` (agentnas.fingerprint.code_hash of the rendered file), `params`
  (parameters as torch counts them in the sandbox; the graph's own count, which includes
  buffers, is `features.params`), `macs` (multiply-accumulates read from the exported ONNX),
  `features` (the structural features of the ONNX graph,
  `agentnas.encode.features.GraphFeatures`), `text` (the ONNX-Net text of the graph, when
  kept) and `runs`: one per training seed, with validation and test accuracy (fractions),
  seconds, the zero-cost proxies measured in the sandbox, or the failure kind.

No data set is stored: the tasks' data come from their own loaders. The file is written
atomically (temporary file, then rename) with a fixed gzip timestamp, so the same content
gives the same bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentnas.encode.features import FEATURE_NAMES, FEATURES_VERSION, GraphFeatures
from agentnas.space.grammar import GRAMMAR_VERSION
from agentnas.space.sampler import SamplerConfig
from agentnas.value.families import FAMILY_NAMES

FORMAT: Literal["agentnas-labelled-archs"] = "agentnas-labelled-archs"
FORMAT_VERSION = 1
SHIPPED = Path(__file__).resolve().parent / "labelled" / "agentnas-archs.jsonl.gz"
TaskName = str


class CollectionError(ValueError):
    """A labelled-set file that cannot be read or continued; the message says why."""


class CollectSettings(BaseModel):
    """What decides the architectures of a collection and how they are trained. A collection
    is only ever continued with the same settings (the count of architectures may grow)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_seed: int = Field(default=0, ge=0)
    families: tuple[str, ...] = FAMILY_NAMES
    tasks: tuple[TaskName, ...] = ("digits", "mnist1d")
    epochs: int | None = Field(default=None, gt=0, description="override of the recipes' epochs (None: the recipe's)")
    replicate_every: int = Field(default=8, ge=0, description="every k-th architecture is also trained with "
                                                             "`replicate_seeds` (0: none)")
    replicate_seeds: tuple[int, ...] = (1, 2)
    max_params: int = Field(default=1_000_000, gt=0)
    max_macs: int | None = Field(default=5_000_000, gt=0)
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    max_depth: int = 8
    max_leaves: int = 96
    max_stages: int = 4
    max_blocks: int = 3

    @field_validator("families")
    @classmethod
    def _known_families(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in v if f not in FAMILY_NAMES]
        if unknown or not v or len(set(v)) != len(v):
            raise ValueError(f"families must be distinct names among {', '.join(FAMILY_NAMES)}; got {', '.join(v)}")
        return v

    @field_validator("tasks")
    @classmethod
    def _some_tasks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or len(set(v)) != len(v):
            raise ValueError("tasks must be one or more distinct task names")
        return v

    @field_validator("replicate_seeds")
    @classmethod
    def _replicates_not_zero(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if 0 in v or len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError("replicate seeds must be distinct seeds other than 0 (seed 0 is every architecture's)")
        return v

    def sampler(self) -> SamplerConfig:
        return SamplerConfig(max_params=self.max_params, max_macs=self.max_macs, max_depth=self.max_depth,
                             max_leaves=self.max_leaves, max_stages=self.max_stages, max_blocks=self.max_blocks,
                             widths=self.widths)

    def family_for(self, index: int) -> str:
        """Families take turns, so every one is represented whatever the count."""
        return self.families[index % len(self.families)]

    def seeds_for(self, index: int) -> tuple[int, ...]:
        """The training seeds of architecture `index`: 0, and the replicate seeds for every k-th."""
        if self.replicate_every and index % self.replicate_every == 0:
            return (0, *self.replicate_seeds)
        return (0,)

    def all_seeds(self) -> tuple[int, ...]:
        return (0, *self.replicate_seeds) if self.replicate_every else (0,)


class Run(BaseModel):
    """One training of one architecture on one task with one seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int
    status: Literal["ok", "failed"]
    val: float | None = None    # validation accuracy, a fraction
    test: float | None = None   # test accuracy, a fraction
    failure: str | None = None  # the failure kind (timeout, memory, non_finite, ...)
    train_seconds: float | None = None
    wall_seconds: float = 0.0
    proxies: dict[str, float | None] | None = None


class TaskEntry(BaseModel):
    """One architecture on one task: what its exported graph says, and its trainings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code_hash: str
    arch_hash: str  # of the tree as rendered for this task's input shape (repaired for it)
    params: int | None = None
    macs: int | None = None
    features: GraphFeatures | None = None
    text: str | None = None
    runs: tuple[Run, ...] = ()

    def run(self, seed: int) -> Run | None:
        return next((r for r in self.runs if r.seed == seed), None)


class LabelledArch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    index: int = Field(ge=0)
    family: str
    tags: tuple[str, ...] = ()
    arch: dict[str, Any]
    tasks: dict[TaskName, TaskEntry] = Field(default_factory=dict)


class CollectionHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["agentnas-labelled-archs"] = FORMAT
    version: int = FORMAT_VERSION
    settings: CollectSettings
    recipes: dict[TaskName, dict[str, Any]]
    features_version: int = FEATURES_VERSION
    grammar_version: int = GRAMMAR_VERSION
    feature_names: tuple[str, ...] = FEATURE_NAMES
    command: str
    architectures: int = 0
    evaluations: int = 0
    updated: str = ""


def write_collection(path: Path, header: CollectionHeader, rows: Iterable[LabelledArch]) -> None:
    """Write the file atomically; the same header and rows always give the same bytes."""
    ordered = sorted(rows, key=lambda r: r.index)
    header = header.model_copy(update={"architectures": len(ordered),
                                       "evaluations": sum(len(t.runs) for r in ordered for t in r.tasks.values())})
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write((header.model_dump_json() + "\n").encode())
        for row in ordered:
            gz.write((row.model_dump_json(exclude_none=True) + "\n").encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def read_collection(path: Path) -> tuple[CollectionHeader, list[LabelledArch]]:
    """The header and the architectures of a labelled-set file; CollectionError if unusable."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise CollectionError(f"{path}: no such file") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise CollectionError(f"{path}: not a gzip-compressed labelled set ({e})") from None
    if not lines:
        raise CollectionError(f"{path}: empty file")
    try:
        first = json.loads(lines[0])
    except ValueError:
        raise CollectionError(f"{path}: the first line is not JSON") from None
    if not isinstance(first, dict) or first.get("format") != FORMAT:
        raise CollectionError(f"{path}: not an agentnas labelled set (format {FORMAT!r} expected)")
    if first.get("version") != FORMAT_VERSION:
        raise CollectionError(f"{path}: format version {first.get('version')!r}; this agentnas reads "
                              f"version {FORMAT_VERSION}")
    try:
        header = CollectionHeader.model_validate(first)
        rows = [LabelledArch.model_validate_json(line) for line in lines[1:] if line.strip()]
    except ValidationError as e:
        where = ".".join(str(p) for p in e.errors()[0]["loc"])
        raise CollectionError(f"{path}: malformed entry ({where}: {e.errors()[0]['msg']})") from None
    return header, rows
