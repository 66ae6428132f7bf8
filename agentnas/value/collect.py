"""`agentnas value collect`: many grammar architectures of many families, trained under the
tasks' fixed recipes in the sandbox, into a labelled set (format: labelled.py).

Architecture `i` is drawn from family `families[i % len(families)]` with a generator seeded
by (sample seed, i, attempt): the draw of one index does not depend on the others, so the
set can grow later with the same first architectures (a tree already drawn is drawn again
with the next attempt). It is drawn for one task's input shape (the tasks take turns) and
must be valid and within the budget on every task's shape; each task trains the tree as
repaired for its shape. Every architecture is trained with seed 0 on every task; every
`replicate_every`-th also with the replicate seeds, which measures the label noise.

Resumable at two levels. Each finished evaluation is appended to a journal (JSONL, in the
work folder) as it ends, so a kill -9 loses at most the evaluations in flight (failed ones
are appended when their batch ends: a batch stopped by Ctrl-C or TERM fails its running
evaluations, and those must not count as done). The labelled-set file itself is rewritten
after every block of architectures and at the end; a collection continues from the file
and the journal, whichever holds an evaluation, and never trains one twice.

Evaluations go through `open_executor` (the local sandbox slots or Ray) like a run's
candidates; the ONNX each seed-0 evaluation exports is encoded here (structural features,
ONNX-Net text) and then deleted.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agentnas.encode.features import GraphFeatures, graph_features
from agentnas.encode.graph import GraphView
from agentnas.encode.onnx_load import load_onnx
from agentnas.encode.text import write_text
from agentnas.evaluator import EvalOptions, Executor, open_executor
from agentnas.fingerprint import code_hash
from agentnas.records import EvalResult
from agentnas.space.grammar import Arch, arch_hash, arch_json, canonical_arch
from agentnas.space.render import render
from agentnas.space.repair import repair
from agentnas.space.shapes import analyse
from agentnas.tasks import Task
from agentnas.value.families import sample_family, tags
from agentnas.value.labelled import (
    CollectionError,
    CollectionHeader,
    CollectSettings,
    LabelledArch,
    Run,
    TaskEntry,
    read_collection,
    write_collection,
)

JOURNAL = "journal.jsonl"
JOURNAL_VERSION = 1
BLOCK = 24  # architectures per block: the labelled-set file is rewritten after each
ATTEMPTS = 20  # draws of one index before giving up on finding a tree not drawn already
Log = Callable[[str], Any]


@dataclass(frozen=True)
class Planned:
    index: int
    id: str
    family: str
    arch: Arch


@dataclass
class _Entry:
    """One architecture on one task, as it fills up."""

    code_hash: str
    arch_hash: str
    params: int | None = None
    macs: int | None = None
    features: GraphFeatures | None = None
    text: str | None = None
    runs: dict[int, Run] = field(default_factory=dict)


def task_shapes(tasks: dict[str, Task]) -> list[tuple[tuple[int, ...], int]]:
    return [(tuple(t.spec.input_shape), t.spec.num_classes) for t in tasks.values()]


def plan_entry(settings: CollectSettings, index: int, shapes: list[tuple[tuple[int, ...], int]],
               taken: set[str]) -> Planned:
    """Architecture `index` of a collection (independent of every other index but for `taken`)."""
    family = settings.family_for(index)
    turn = index % len(shapes)
    order = shapes[turn:] + shapes[:turn]  # the tasks take turns at being the one drawn for
    for attempt in range(ATTEMPTS):
        rng = np.random.default_rng([settings.sample_seed, index, attempt])
        try:
            arch = canonical_arch(sample_family(family, order, rng, settings.sampler()))
        except RuntimeError as e:
            raise CollectionError(f"architecture #{index}: {e}; raise --max-params/--max-macs") from None
        if arch_hash(arch) not in taken:
            return Planned(index, arch_hash(arch), family, arch)
    raise CollectionError(f"architecture #{index}: {ATTEMPTS} draws of the {family} family were all "
                          "drawn before; the family's space is exhausted under these limits")


class Collection:
    """A collection's state: the architectures drawn, the evaluations done, and the files
    that keep them (the journal in `work`, the labelled set at `out`)."""

    def __init__(self, settings: CollectSettings, tasks: dict[str, Task], out: Path, work: Path,
                 keep_text: bool = True) -> None:
        self.settings, self.tasks, self.out, self.work, self.keep_text = settings, tasks, out, work, keep_text
        self.shapes = task_shapes(tasks)
        self.plan: dict[int, Planned] = {}
        self.entries: dict[tuple[int, str], _Entry] = {}
        self._lock = threading.Lock()
        self._journal: Any = None

    # loading ----------------------------------------------------------------------
    def open(self) -> Collection:
        if self.out.exists():
            header, rows = read_collection(self.out)
            self._check(header.settings, str(self.out))
            for row in rows:
                self._load_row(row)
        path = self.work / JOURNAL
        if path.exists():
            self._load_journal(path)
        self.work.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or path.stat().st_size == 0
        self._journal = open(path, "a", encoding="utf-8")  # noqa: SIM115 - held open until close()
        if fresh:
            self._append({"journal": JOURNAL_VERSION, "settings": self.settings.model_dump(mode="json")})
        return self

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _check(self, found: CollectSettings, where: str) -> None:
        if found != self.settings:
            mine, theirs = self.settings.model_dump(), found.model_dump()
            diff = ", ".join(f"{k}={theirs[k]!r} (asked: {mine[k]!r})" for k in mine if mine[k] != theirs[k])
            raise CollectionError(f"{where} was collected with other settings: {diff}; continue it with the same "
                                  "settings or collect into another --out")

    def _load_row(self, row: LabelledArch) -> None:
        self.plan[row.index] = Planned(row.index, row.id, row.family, Arch.model_validate(row.arch))
        for task, t in row.tasks.items():
            self.entries[(row.index, task)] = _Entry(t.code_hash, t.arch_hash, t.params, t.macs, t.features, t.text,
                                                     {r.seed: r for r in t.runs})

    def _load_journal(self, path: Path) -> None:
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a line cut by a kill: that evaluation is done again
            if n == 0 and "journal" in data:
                self._check(CollectSettings.model_validate(data["settings"]), str(path))
                continue
            try:
                self._apply(data)
            except (KeyError, TypeError, ValueError):
                continue

    def _apply(self, data: dict[str, Any]) -> None:
        index, task = int(data["index"]), str(data["task"])
        if index not in self.plan:
            self.plan[index] = Planned(index, data["id"], data["family"], Arch.model_validate(data["arch"]))
        entry = self.entries.setdefault((index, task), _Entry(data["code_hash"], data["arch_hash"]))
        graph = data.get("graph")
        if graph:
            entry.params, entry.macs = graph.get("params"), graph.get("macs")
            entry.features = GraphFeatures.model_validate(graph["features"]) if graph.get("features") else None
            entry.text = graph.get("text")
        run = Run.model_validate(data["run"])
        entry.runs.setdefault(run.seed, run)

    # planning ---------------------------------------------------------------------
    def extend(self, count: int) -> None:
        taken = {p.id for p in self.plan.values()}
        for index in range(count):
            if index not in self.plan:
                planned = plan_entry(self.settings, index, self.shapes, taken)
                self.plan[index] = planned
                taken.add(planned.id)

    def done(self, index: int, task: str, seed: int) -> bool:
        entry = self.entries.get((index, task))
        return entry is not None and seed in entry.runs

    def pending(self, count: int) -> int:
        return sum(1 for i in range(count) for t in self.tasks for s in self.settings.seeds_for(i)
                   if not self.done(i, t, s))

    # recording --------------------------------------------------------------------
    def _append(self, data: dict[str, Any]) -> None:
        self._journal.write(json.dumps(data, separators=(",", ":")) + "\n")
        self._journal.flush()

    def record(self, planned: Planned, task: str, source: str, run: Run, graph: dict[str, Any] | None) -> None:
        data = {"index": planned.index, "id": planned.id, "family": planned.family,
                "arch": json.loads(arch_json(planned.arch)), "task": task, "code_hash": code_hash(source),
                "arch_hash": arch_hash(repair(planned.arch, self.tasks[task].spec.input_shape)),
                "run": run.model_dump(mode="json"), "graph": graph}
        with self._lock:
            self._append(data)
            self._apply(data)

    # exporting --------------------------------------------------------------------
    def rows(self) -> list[LabelledArch]:
        out = []
        for index in sorted(self.plan):
            p = self.plan[index]
            tasks = {t: TaskEntry(code_hash=e.code_hash, arch_hash=e.arch_hash, params=e.params, macs=e.macs,
                                  features=e.features, text=e.text if self.keep_text else None,
                                  runs=tuple(e.runs[s] for s in sorted(e.runs)))
                     for t in self.tasks if (e := self.entries.get((index, t))) is not None}
            if tasks:
                out.append(LabelledArch(id=p.id, index=index, family=p.family, tags=tuple(tags(p.arch)),
                                        arch=json.loads(arch_json(p.arch)), tasks=tasks))
        return out

    def export(self, command: str) -> list[LabelledArch]:
        rows = self.rows()
        recipes = {name: t.spec.recipe.with_epochs(self.settings.epochs).model_dump(mode="json")
                   for name, t in self.tasks.items()}
        header = CollectionHeader(settings=self.settings, recipes=recipes, command=command,
                                  updated=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        with self._lock:
            write_collection(self.out, header, rows)
        return rows


def encode_kept(onnx_path: str, keep_text: bool) -> dict[str, Any]:
    """Features (and text) of a graph the evaluator kept; the graph's folder is removed after."""
    try:
        view = GraphView.of(load_onnx(Path(onnx_path)))
        features = graph_features(view.model, view)
        return {"params": features.params, "macs": features.flops, "features": features.model_dump(mode="json"),
                "text": write_text(view) if keep_text else None}
    finally:
        shutil.rmtree(Path(onnx_path).parent, ignore_errors=True)


def as_run(result: EvalResult, seed: int) -> Run:
    m = result.metrics
    return Run(seed=seed, status="ok" if result.ok and m is not None else "failed",
               val=round(m.val_accuracy, 5) if m else None, test=round(m.test_accuracy, 5) if m else None,
               failure=str(result.failure.kind) if result.failure else None,
               train_seconds=round(result.train_seconds, 3) if result.train_seconds is not None else None,
               wall_seconds=round(result.wall_seconds, 3), proxies=result.proxies)


@dataclass
class Progress:
    """Counts and clock of this session, for the progress lines and the summary."""

    total: int
    done: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self, planned: Planned, task: str, run: Run, params: int | None) -> str:
        self.done += 1
        self.failed += run.status != "ok"
        spent = time.monotonic() - self.started
        eta = spent / self.done * (self.total - self.done)
        what = (f"val {run.val:.3f} test {run.test:.3f}" if run.status == "ok" else f"failed ({run.failure})")
        size = f" {params:,} params" if params is not None else ""
        return (f"[{self.done}/{self.total}] #{planned.index} {planned.family} {task} seed {run.seed}: {what}"
                f"{size}, {run.wall_seconds:.1f} s; {spent / self.done:.1f} s/evaluation, "
                f"about {eta / 60:.0f} min left")


class Collector:
    """Runs the evaluations a collection still lacks, one block of architectures at a time."""

    def __init__(self, collection: Collection, options: EvalOptions, *, cache_dir: Path, executor: str = "local",
                 ray_address: str | None = None, log: Log | None = None, command: str = "") -> None:
        self.c, self.options, self.cache_dir = collection, options, cache_dir
        self.executor_kind, self.ray_address = executor, ray_address
        self.log, self.command = log or (lambda _: None), command
        self.executors: dict[tuple[str, int], Executor] = {}

    def _executor(self, task: str, seed: int) -> Executor:
        key = (task, seed)
        if key not in self.executors:
            s = self.c.settings
            options = self.options.model_copy(update={"seed": seed, "epochs": s.epochs, "export_onnx": seed == 0,
                                                      "proxies": True, "check_only": False})
            self.executors[key] = open_executor(self.executor_kind, self.c.tasks[task], options,
                                                cache_dir=self.cache_dir, out_dir=self.c.work / "graphs",
                                                ray_address=self.ray_address)
        return self.executors[key]

    def _candidate(self, planned: Planned, task: str) -> tuple[Path, str]:
        spec = self.c.tasks[task].spec
        arch = repair(planned.arch, spec.input_shape)
        source = render(arch, spec.input_shape, spec.num_classes)
        path = self.c.work / "candidates" / task / f"{planned.index:05d}-{planned.id}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return path, source

    def _batch(self, task: str, seed: int, todo: list[Planned], progress: Progress) -> None:
        files = {p.index: self._candidate(p, task) for p in todo}
        by_path = {str(files[p.index][0]): p for p in todo}
        failed: list[EvalResult] = []

        def finished(result: EvalResult) -> None:
            if not result.ok:
                failed.append(result)  # recorded when the batch ends (see the module docstring)
                return
            self._record(by_path[result.path], task, seed, files, result, progress)

        self._executor(task, seed).evaluate([files[p.index][0] for p in todo], on_result=finished)
        for result in failed:
            self._record(by_path[result.path], task, seed, files, result, progress)

    def _record(self, planned: Planned, task: str, seed: int, files: dict[int, tuple[Path, str]],
                result: EvalResult, progress: Progress) -> None:
        graph = None
        if seed == 0:
            spec = self.c.tasks[task].spec
            stats = analyse(repair(planned.arch, spec.input_shape), spec.input_shape, spec.num_classes)
            graph = {"params": result.params if result.params is not None else stats.params, "macs": None,
                     "features": None, "text": None}
            if result.onnx_path:
                try:
                    graph = encode_kept(result.onnx_path, self.c.keep_text)
                except Exception as e:  # an unreadable graph costs the features, not the accuracies
                    self.log(f"#{planned.index} {task}: graph not encoded ({type(e).__name__}: {e})")
            if result.params is not None:  # torch's count; the graph's (features.params) also counts buffers
                graph["params"] = result.params
        run = as_run(result, seed)
        self.c.record(planned, task, files[planned.index][1], run, graph)
        self.log(progress.line(planned, task, run, graph["params"] if graph else result.params))

    def run(self, count: int) -> None:
        s = self.c.settings
        progress = Progress(total=self.c.pending(count))
        try:
            for start in range(0, count, BLOCK):
                block = [self.c.plan[i] for i in range(start, min(count, start + BLOCK))]
                worked = False
                for seed in s.all_seeds():
                    for task in self.c.tasks:
                        todo = [p for p in block if seed in s.seeds_for(p.index) and not self.c.done(p.index, task,
                                                                                                    seed)]
                        if todo:
                            self._batch(task, seed, todo, progress)
                            worked = True
                if worked:
                    self.c.export(self.command)
        finally:
            for executor in self.executors.values():
                executor.close()
            self.executors.clear()
