"""One session of `agentnas value collect` (agentnas.cli.value): the settings it continues
with, the command that regenerates its set, and the collection run to its end.

Settings left out on a continued collection are the ones its file records; a flag given
with another value than the recorded one is refused (`CollectionError`), so a collection is
never continued under other settings by accident. A stop (Ctrl-C, TERM) ends the evaluations
in flight and saves what finished before it is passed on; the same command continues.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentnas.config import AgentnasConfig
from agentnas.value.labelled import CollectionError, CollectSettings, read_collection

SETTING_FLAGS = {"sample_seed": "--sample-seed", "families": "--families", "tasks": "--tasks",
                 "epochs": "--epochs", "replicate_every": "--replicate-every", "max_params": "--max-params",
                 "max_macs": "--max-macs"}


def names(text: str | None) -> tuple[str, ...] | None:
    """A comma-separated flag value as names (None: not given)."""
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def settings_from(out: Path, given: dict[str, Any]) -> CollectSettings:
    """The collection's settings: those recorded in `out` (if it exists) with the flags given
    on top. Raises CollectionError for a given flag that differs from the recorded value or
    an unreadable `out`, pydantic.ValidationError for a value out of range."""
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("families") == ("all",):
        from agentnas.value.families import FAMILY_NAMES

        given["families"] = FAMILY_NAMES
    if given.get("max_macs") == 0:
        given["max_macs"] = None  # 0: unbounded
    recorded: dict[str, Any] = {}
    if out.exists():
        recorded = read_collection(out)[0].settings.model_dump()
        for key, value in given.items():
            mine = CollectSettings.model_validate({**recorded, key: value}).model_dump()[key]
            if mine != recorded[key]:
                raise CollectionError(f"{out} was collected with {SETTING_FLAGS[key]} {_flag_value(recorded[key])}, "
                                      f"not {_flag_value(mine)}; leave the flag out to continue it, or collect "
                                      "into another --out")
    return CollectSettings.model_validate({**recorded, **given})


def _flag_value(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return "0" if v is None else str(v)


def regenerate_command(settings: CollectSettings, count: int, out: Path, keep_text: bool) -> str:
    """The command that collects this set again (given the same agentnas)."""
    parts = ["agentnas value collect", f"--out {out}", f"--count {count}"]
    values = settings.model_dump()
    for key, flag in SETTING_FLAGS.items():
        if key == "epochs" and values[key] is None:
            continue
        parts.append(f"{flag} {_flag_value(values[key])}")
    if not keep_text:
        parts.append("--no-text")
    return " ".join(parts)


def default_work(cache_dir: Path, out: Path) -> Path:
    """The journal's folder of the set at `out`: one per set, under the cache."""
    return cache_dir / "value-collect" / hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:12]


def run_collect(settings: CollectSettings, count: int, out: Path, work: Path, keep_text: bool, cfg: AgentnasConfig,
                executor: str = "local", ray_address: str | None = None,
                log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Collect the set at `out` up to `count` architectures and return its summary with this
    session's counts. Raises TaskError, CollectionError or OSError before anything is trained;
    the evaluator's errors (ExecutorError, IsolationUnavailable, SandboxStartError) and
    KeyboardInterrupt after saving what finished."""
    from agentnas.evaluator import EvalOptions
    from agentnas.tasks import TabularTask, get_task
    from agentnas.value.collect import Collection, Collector
    from agentnas.value.collect_summary import summarize

    the_tasks = {name: get_task(name) for name in settings.tasks}
    for name, task in the_tasks.items():
        if task.spec.kind != "classification" or isinstance(task, TabularTask):
            what = "a tabular benchmark (no data to train on)" if isinstance(task, TabularTask) else \
                f"a {task.spec.kind} task"
            raise CollectionError(f"task {name} is {what}; value collect trains the grammar's classifiers on "
                                  "classification tasks such as digits and mnist1d")
    command = regenerate_command(settings, count, out, keep_text)
    collection = Collection(settings, the_tasks, out, work, keep_text)
    try:
        collection.open()
        collection.extend(count)
    except BaseException:
        collection.close()
        raise
    options = EvalOptions(timeout_s=cfg.timeout_s, memory_limit_gb=cfg.memory_limit_gb,
                          file_size_limit_mb=cfg.file_size_limit_mb, slots=cfg.slots, device=cfg.device,
                          isolation=cfg.isolation, allow_unsafe=cfg.unsafe_no_isolation)
    pending = collection.pending(count)
    if log is not None:
        log(f"collecting {count} architectures into {out} ({pending} evaluations to do; journal in {work})")
    started = time.monotonic()
    collector = Collector(collection, options, cache_dir=cfg.cache_dir, executor=executor, ray_address=ray_address,
                          log=log, command=command)
    try:
        collector.run(count)
    except KeyboardInterrupt:
        collection.export(command)  # what finished is kept; the journal has it too
        raise
    finally:
        collection.close()
    rows = collection.export(command)
    seconds = time.monotonic() - started
    done = pending - collection.pending(count)
    return {"out": str(out), "work": str(work), "command": command, **summarize(rows, settings),
            "session": {"evaluations": done, "seconds": round(seconds, 1),
                        "seconds_per_evaluation": round(seconds / done, 2) if done else None,
                        "slots": cfg.slots}}
