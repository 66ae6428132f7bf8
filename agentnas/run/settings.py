"""What a resume keeps: the settings a run was started with, read back from its journal.

A run's settings (the `RunOptions` fields) are recorded as `run/config` at its first start.
Each later start that changes one appends `run/settings-N` with the iteration it applies
from, the changes and the whole settings then in force; the last one is what the run uses.
On a resume every setting that is not given again is taken from there, so leaving a flag
out never changes the experiment. A setting given with another value than the recorded
one is treated by its group:

- identity (task, seed, from_memory): never changes; a different run needs a new
  --run-dir (or `agentnas replay --fork-at`);
- experiment settings (what is trained, how candidates are judged, where results go):
  refused unless the user passes --change-settings, then recorded and used from the next
  iteration on;
- free settings (how long and where the run goes on: budgets, executor, device, approval):
  changed by giving them, and recorded too, so `runs show` and the report state what is
  in force.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentnas.journal import Journal, JournalError, open_journal
from agentnas.records import parse_objectives

IDENTITY = ("task", "seed", "from_memory")
FREE = ("budget_evals", "budget_time_s", "executor", "ray_address", "device", "approve")
NOT_SETTINGS = ("run_dir",)  # where the run is, not what it does
SETTINGS_PREFIX = "settings-"

# Fields whose flag is not `--` + the field name with dashes.
FLAG_NAMES = {"budget_time_s": "--budget-time", "timeout_s": "--timeout"}


class RunError(RuntimeError):
    """The run cannot start or go on; the message says why and what to do."""


class RunOptions(BaseModel):
    """What a run is asked to do (recorded in the journal's `run/config` entry)."""

    model_config = ConfigDict(frozen=True)

    task: str = "mnist1d"
    run_dir: Path
    budget_evals: int | None = Field(default=None, gt=0)
    budget_time_s: float | None = Field(default=None, gt=0)
    proposer: Literal["offline", "llm"] = "offline"
    seed: int = Field(default=0, ge=0)
    k: int = Field(default=6, gt=0, description="children proposed per expansion")
    train_per_expansion: int = Field(default=2, gt=0, description="children granted real training per expansion")
    beta: float = Field(default=1.0, ge=0, description="exploration weight on the value model's std")
    max_params: int | None = Field(default=None, gt=0)
    max_macs: int | None = Field(default=None, gt=0, description="offline proposer: multiply-adds bound (cost)")
    # Hard limits on measured costs (agentnas.run.costs): a candidate over one is never trained.
    max_size_mb: float | None = Field(default=None, gt=0, allow_inf_nan=False, description="exported ONNX file size")
    max_latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                         description="batch-1 ONNX Runtime CPU latency (median)")
    # What the run optimises (agentnas.records.OBJECTIVES, each with its direction); None: the
    # task's metric alone. Recorded; a Pareto search over several is still to come.
    objectives: tuple[str, ...] | None = None
    epochs: int | None = Field(default=None, gt=0, description="override the task recipe's epochs")
    fidelity_epochs: int | None = Field(default=None, gt=0, description="successive halving: short runs first")
    keep: float = Field(default=0.5, gt=0, le=1, description="fraction of short runs promoted to the full recipe")
    memory: str | None = None
    from_memory: bool = False  # warm-start the value model and hypotheses from the memory (agentnas.search.warmstart)
    approve: bool = False
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    value_model: str | None = None  # a pretrained head's path; None: the shipped one; "none": no prior
    llm_base_url: str | None = None  # the key is never part of the options (they go to the journal)
    llm_model: str | None = None
    timeout_s: float | None = Field(default=None, gt=0, description="per-candidate wall-clock limit (None: config)")
    device: Literal["auto", "cpu", "cuda"] | None = None  # None: the config's

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, value: object) -> object:
        if value is None or isinstance(value, str | list | tuple):
            return None if value is None else parse_objectives(value)
        return value


def options_from(fields: dict[str, Any]) -> RunOptions:
    """RunOptions from flag values; RunError naming the flag of the first bad one."""
    try:
        return RunOptions.model_validate(fields)
    except ValidationError as e:
        first = e.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "options"
        msg = first["msg"].removeprefix("Value error, ")
        raise RunError(f"{flag(name)} {fields.get(name)!r}: {msg[0].lower()}{msg[1:]}") from None


def flag(name: str) -> str:
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def shown(name: str, value: Any) -> str:
    """A setting as the user would type it (for messages)."""
    if isinstance(value, bool):
        return flag(name) if value else "--no-" + flag(name)[2:]
    if value is None:
        return f"no {flag(name)}"
    if name == "budget_time_s":
        return f"{flag(name)} {float(value):g}s"
    if isinstance(value, list | tuple):
        return f"{flag(name)} {','.join(str(v) for v in value)}"
    return f"{flag(name)} {value}"


def effective_config(journal: Journal, before_iteration: int | None = None) -> dict[str, Any] | None:
    """The settings in force (the last recorded), or None before the run's first start.
    With `before_iteration`, the settings in force at that iteration."""
    entry = journal.get("run", "config")
    if entry is None:
        return None
    config = dict(entry.payload)
    for change in changes_of(journal):
        if before_iteration is None or int(change["iteration"]) <= before_iteration:
            config = dict(change["settings"])
    return config


def changes_of(journal: Journal) -> list[dict[str, Any]]:
    """Every recorded change of settings, in order: {iteration, changed: {name: [old, new]}, settings}."""
    return [e.payload for e in journal.entries("run") if e.key.startswith(SETTINGS_PREFIX)]


def recorded_settings(run_dir: Path) -> dict[str, Any] | None:
    """The settings in force of the run in `run_dir` (read-only), None when it holds no run yet."""
    if not (Path(run_dir) / "journal.sqlite").exists():
        return None
    try:
        with open_journal(run_dir, read_only=True) as journal:
            return effective_config(journal)
    except JournalError as e:
        raise RunError(str(e)) from e


def settle(recorded: dict[str, Any] | None, mine: dict[str, Any], given: frozenset[str] | None,
           allow_change: bool, run_dir: Path) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The settings a (re)start runs with, and what changes against the recorded ones.

    `mine` are the settings asked for (JSON form), `given` the names the user gave (None:
    all of them). A recorded setting not given is kept; one given with another value is
    refused or changed by its group (module docstring)."""
    if recorded is None:
        return dict(mine), {}
    out = dict(mine)
    changed: dict[str, list[Any]] = {}
    for name, value in mine.items():
        if name in NOT_SETTINGS or name not in recorded:  # a setting newer than the journal: as asked
            continue
        old = recorded[name]
        if given is not None and name not in given:
            out[name] = old
            continue
        if value == old:
            continue
        if name in IDENTITY:
            raise RunError(f"{run_dir} holds a run with {shown(name, old)}, not {shown(name, value)}; "
                           f"start a new --run-dir (or `agentnas replay {run_dir} --fork-at N --run-dir NEW`)")
        if name not in FREE and not allow_change:
            raise RunError(f"{run_dir} was run with {shown(name, old)}, this start asks for {shown(name, value)}; "
                           f"leave the flag out to keep it, or add --change-settings to change it from the "
                           f"next iteration on (recorded in the journal)")
        changed[name] = [old, value]
    return out, changed


def record_settings(journal: Journal, settings: dict[str, Any], changed: dict[str, list[Any]]) -> None:
    """Write the run's settings at its first start, or the change at a later one."""
    if journal.get("run", "config") is None:
        journal.append("run", "config", settings)
        return
    if not changed:
        return
    n = len(changes_of(journal)) + 1
    journal.append("run", f"{SETTINGS_PREFIX}{n}", {"iteration": journal.count("iteration"), "changed": changed,
                                                    "settings": settings})


def describe_changes(changed: dict[str, list[Any]]) -> str:
    return ", ".join(f"{flag(k)} {_plain(a)} -> {_plain(b)}" for k, (a, b) in changed.items())


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return "none" if value is None else str(value)


def entries_under(root: Path) -> set[str] | None:
    """The names directly under `root` now (None: it does not exist), for `remove_new`."""
    return set(p.name for p in root.iterdir()) if root.is_dir() else None


def remove_new(root: Path, before: set[str] | None) -> None:
    """Undo a failed start: remove what was created under `root` since `entries_under`
    gave `before` (the whole folder if it did not exist). Nothing that existed is touched."""
    if not root.exists():
        return
    if before is None:
        shutil.rmtree(root, ignore_errors=True)
        return
    for p in root.iterdir():
        if p.name not in before:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
