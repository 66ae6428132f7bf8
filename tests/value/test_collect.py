"""`agentnas value collect` and its labelled set: resumable, refusing what it cannot continue,
a stored format that reads back as written, and every family drawn as named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from agentnas.encode.features import GraphFeatures
from agentnas.space import Arch, OfflineProposer, analyse, render
from agentnas.space.grammar import Recurrent, arch_json, walk
from agentnas.space.repair import repair
from agentnas.value.collect import JOURNAL, plan_entry
from agentnas.value.collect_summary import summarize
from agentnas.value.families import FAMILY_NAMES, tags
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

SHAPES = [((1, 8, 8), 10), ((1, 40), 10)]


def agentnas(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentnas", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ})


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\n')
    return tmp_path


def journal_keys(path: Path) -> list[tuple[int, str, int]]:
    keys = []
    for line in path.read_text().splitlines()[1:]:
        try:
            data = json.loads(line)
        except ValueError:
            continue
        keys.append((data["index"], data["task"], data["run"]["seed"]))
    return keys


def test_collector_resumes_after_kill_without_training_anything_twice(work: Path) -> None:
    # 3 architectures on digits, 1 epoch; the first is also trained with seeds 1 and 2: 5 evaluations.
    args = ["value", "collect", "--out", "set.jsonl.gz", "--work", "w", "--count", "3", "--tasks", "digits",
            "--epochs", "1", "--replicate-every", "3", "--slots", "1", "--max-macs", "300000",
            "--families", "conv,residual,mlp"]
    journal = work / "w" / JOURNAL
    proc = subprocess.Popen([sys.executable, "-m", "agentnas", *args], cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if journal.exists() and journal_keys(journal):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the collection ended before it could be killed"
        proc.kill()  # SIGKILL: no clean-up at all
    finally:
        proc.kill()
        proc.wait()
    before = journal_keys(journal)
    assert 1 <= len(before) < 5

    again = agentnas(*args, "--json", cwd=work)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    after = journal_keys(journal)
    assert sorted(after) == sorted({(0, "digits", 0), (0, "digits", 1), (0, "digits", 2), (1, "digits", 0),
                                    (2, "digits", 0)})  # each evaluation once: nothing trained twice
    assert report["session"]["evaluations"] == 5 - len(before)
    _, rows = read_collection(work / "set.jsonl.gz")
    assert [len(r.tasks["digits"].runs) for r in rows] == [3, 1, 1]
    assert all(r.tasks["digits"].features is not None and r.tasks["digits"].text for r in rows)
    digits = SHAPES[0]  # params as torch counts them (the shape analysis counts exactly alike)
    assert [r.tasks["digits"].params for r in rows] == [
        analyse(repair(Arch.model_validate(r.arch), digits[0]), *digits).params for r in rows]

    done = agentnas(*args, "--json", cwd=work)  # a finished collection trains nothing more
    assert done.returncode == 0 and json.loads(done.stdout)["session"]["evaluations"] == 0


def _row(index: int, family: str, accs: dict[int, float]) -> LabelledArch:
    arch = plan_entry(CollectSettings(), index, SHAPES, set()).arch
    features = GraphFeatures(params=1000 + index, nodes=9, compute_nodes=5, depth=4, flops=50_000, flops_complete=True,
                             ops={"Conv": 2, "Relu": 2, "Gemm": 1})
    runs = tuple(Run(seed=s, status="ok", val=a, test=a - 0.01, wall_seconds=2.0,
                     proxies={"naswot": 1.0, "synflow": None, "gradnorm": 0.5, "jacob_cov": -0.1})
                 for s, a in accs.items())
    entry = TaskEntry(code_hash="ab" * 32, arch_hash="cd" * 8, params=1000 + index, macs=50_000, features=features,
                      text="%v0 = Input : [1,1,8,8]", runs=runs)
    return LabelledArch(id=f"{index:016x}", index=index, family=family, tags=tuple(tags(arch)),
                        arch=json.loads(arch_json(arch)), tasks={"digits": entry})


def _header(**settings: object) -> CollectionHeader:
    return CollectionHeader(settings=CollectSettings(tasks=("digits",), **settings),  # type: ignore[arg-type]
                            recipes={"digits": {"epochs": 1}}, command="agentnas value collect --count 2")


def test_labelled_set_reads_back_as_written_and_rewrites_to_the_same_bytes(tmp_path: Path) -> None:
    rows = [_row(1, "residual", {0: 0.9}), _row(0, "conv", {0: 0.8, 1: 0.82, 2: 0.78})]
    path = tmp_path / "set.jsonl.gz"
    write_collection(path, _header(), rows)
    header, back = read_collection(path)
    assert back == sorted(rows, key=lambda r: r.index)
    assert header.architectures == 2 and header.evaluations == 4 and header.settings.tasks == ("digits",)
    first = path.read_bytes()
    write_collection(path, header, back)
    assert path.read_bytes() == first


@pytest.mark.parametrize("content", [b"not gzip at all", b""])
def test_unreadable_labelled_set_is_refused_in_one_line_and_left_untouched(work: Path, content: bytes) -> None:
    out = work / "set.jsonl.gz"
    out.write_bytes(content)
    proc = agentnas("value", "collect", "--out", str(out), "--count", "2", cwd=work)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert out.read_bytes() == content
    with pytest.raises(CollectionError):
        read_collection(out)


def test_continuing_a_set_with_other_settings_is_refused_and_the_set_kept(work: Path) -> None:
    out = work / "set.jsonl.gz"
    write_collection(out, _header(epochs=1), [_row(0, "conv", {0: 0.8})])
    before = out.read_bytes()
    proc = agentnas("value", "collect", "--out", str(out), "--count", "2", "--epochs", "2", cwd=work)
    assert proc.returncode == 2 and "--epochs 1" in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_bytes() == before
    bad = agentnas("value", "collect", "--out", str(work / "other.gz"), "--families", "conv,transformers", cwd=work)
    assert bad.returncode == 2 and "transformers" in bad.stderr and not (work / "other.gz").exists()


BAD_FLAGS = [
    (["--count", "0"], "--count"),
    (["--epochs", "0"], "--epochs"),
    (["--max-params", "0"], "--max-params"),
    (["--replicate-every", "-1"], "--replicate-every"),
    (["--families", "conv,transformers"], "transformers"),
    (["--tasks", "nope"], "nope"),
    (["--tasks", "mqar"], "mqar"),
    (["--tasks", "nb201-cifar10"], "nb201-cifar10"),
    (["--executor", "cloud"], "--executor"),
    (["--ray-address", "auto"], "--ray-address"),
    (["--slots", "0"], "slots"),
    (["--work", "a-file"], "--work"),
]


@pytest.mark.parametrize(("args", "named"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_a_bad_collect_flag_is_one_line_and_exit_2_before_anything_is_written(work: Path, args: list[str],
                                                                              named: str) -> None:
    (work / "a-file").write_text("not a directory")
    proc = agentnas("value", "collect", "--out", "set.jsonl.gz", "--work", "w", *args, cwd=work)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error:") and named in lines[0], proc.stderr
    assert not (work / "set.jsonl.gz").exists() and not (work / "w").exists()


@pytest.mark.parametrize("family", [f for f in FAMILY_NAMES if f != "grammar"])
def test_each_family_draws_what_it_is_named_after_valid_on_both_tasks(family: str) -> None:
    settings = CollectSettings(families=(family,))
    planned = [plan_entry(settings, i, SHAPES, set()) for i in range(24)]
    assert sum(family in tags(p.arch) for p in planned) >= 0.75 * len(planned)
    for p in planned[:6]:
        for shape, classes in SHAPES:
            arch = repair(p.arch, shape)
            assert analyse(arch, shape, classes).params <= settings.max_params
            assert "def build_model" in render(arch, shape, classes)


def test_families_take_turns_and_a_growing_set_keeps_its_first_architectures() -> None:
    settings = CollectSettings()
    taken: set[str] = set()
    first = []
    for i in range(2 * len(FAMILY_NAMES)):
        p = plan_entry(settings, i, SHAPES, taken)
        taken.add(p.id)
        first.append(p)
    assert Counter(p.family for p in first) == {f: 2 for f in FAMILY_NAMES}
    assert len({p.id for p in first}) == len(first)
    again = plan_entry(settings, 5, SHAPES, set())  # one index does not depend on the others
    assert again.id == first[5].id


def test_runs_draw_no_recurrent_layers_by_default() -> None:
    proposer = OfflineProposer((1, 40), 10)
    for seed in range(40):
        arch = proposer.sample(seed=seed).arch
        assert not any(isinstance(n, Recurrent) for _, n in walk(arch.body))


def test_summary_measures_label_noise_on_the_replicated_architectures() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        base = 0.5 + 0.04 * i
        accs = {0: base} if i % 3 else {s: base + rng.normal(0, 0.01) for s in (0, 1, 2)}
        rows.append(_row(i, "conv", accs))
    report = summarize(rows, CollectSettings(tasks=("digits",), replicate_every=3))
    noise = report["tasks"]["digits"]["label_noise"]["val"]
    assert noise["architectures"] == 4
    assert 0.2 < noise["std_mean"] < 3.0  # points: the 1-point spread drawn above
    assert noise["seed_to_seed_tau"] > 0.6  # 4-point gaps between architectures dominate the noise
    assert report["seconds_per_architecture"] == 2.0 and report["complete"] == 12
