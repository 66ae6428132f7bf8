"""Hostile candidates against the filesystem: writes outside the scratch folder, the host's
home and run folders, kernel settings under /proc/sys, searching for labels, symlink
swaps of result files and job folders, leftovers in the scratch root and huge files.

Each test asserts the typed result, that the attack had no effect on the host, and that
the same Evaluator still trains and honestly scores a normal candidate afterwards.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentnas.evaluator import Evaluator
from agentnas.paths import shipped_dir
from agentnas.records import FailureKind

from .conftest import FILE_LIMIT_MB, GOOD_MODEL, assert_still_serving, scratch_is_empty, write_candidate

# --------------------------------------------------------------------------- filesystem

WRITE_OUTSIDE = '''
import os
import tempfile

written = []
for target in __TARGETS__:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a") as f:
            f.write("PWNED")
        written.append(target)
    except OSError:
        pass
print("WRITTEN-OUTSIDE", written, flush=True)

# The scratch root is writable, but nothing left there may outlive this evaluation.
with open("/scratch/leftover.txt", "w") as f:
    f.write("PWNED")
os.makedirs("/scratch/leftover-dir/sub", exist_ok=True)
os.symlink("/etc/passwd", "/scratch/leftover-link")
tempfile.mkstemp()
''' + GOOD_MODEL


def test_writes_outside_the_scratch_folder_never_reach_the_host(
        evaluator: Evaluator, tmp_path: Path) -> None:
    name = f"agentnas-pwned-{uuid.uuid4().hex}"
    source_path = tmp_path / "attack.py"
    host_dirs = [Path("/tmp"), tmp_path, Path("/"), Path.home(), Path(sys.prefix),
                 evaluator.data_dir, shipped_dir("sandbox"), Path("/dev/shm"), Path("/etc")]
    sandbox_dirs = ["/data", "/sandbox", "/scratch/..", os.path.dirname(np.__file__)]
    targets = [str(d / name) for d in host_dirs] + [f"{d}/{name}" for d in sandbox_dirs]
    targets += [str(source_path), str(tmp_path / "sub" / name)]
    path = write_candidate(tmp_path, WRITE_OUTSIDE, "attack.py", TARGETS=targets)
    source = path.read_bytes()

    result = evaluator.evaluate_one(path)

    leaked = [d / name for d in [*host_dirs, Path(np.__file__).parent, tmp_path / "sub"]
              if (d / name).exists()]
    for p in leaked:  # clean up before failing: these are real host folders
        p.unlink()
    assert leaked == []
    assert path.read_bytes() == source
    assert result.ok, result.failure
    assert "WRITTEN-OUTSIDE []" in result.log_tail
    scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


KERNEL_SETTINGS = '''
import os

# Opening for writing is enough to know; nothing is written, so a failure here is harmless.
writable = []
for target in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
               "/proc/sys/vm/swappiness", "/proc/sys/vm/drop_caches", "/proc/sys/fs/file-max",
               "/proc/sysrq-trigger", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj"):
    try:
        os.close(os.open(target, os.O_WRONLY))
        writable.append(target)
    except OSError:
        pass
print("WRITABLE", writable, flush=True)
''' + GOOD_MODEL


def test_kernel_settings_cannot_be_changed_from_the_sandbox(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    # The sandbox runs as uid 0 when the tests run as root, and uid 0 may write host-wide
    # sysctls without any capability (core_pattern would run a program on the host).
    core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
    result = evaluator.evaluate_one(candidate(KERNEL_SETTINGS))

    assert result.ok, result.failure
    assert "WRITABLE []" in result.log_tail
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern
    assert_still_serving(evaluator, tmp_path)


READ_PRIVATE = '''
import os

read, listed = {}, {}
for target in __FILES__:
    try:
        with open(target) as f:
            read[target] = f.read()
    except OSError:
        pass
for folder in __FOLDERS__:
    try:
        listed[folder] = os.listdir(folder)
    except OSError:
        pass
print("LISTED", listed, flush=True)
raise RuntimeError(f"READ {read} LISTED {listed}")
'''


@pytest.fixture(scope="module")
def private_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Path]]]:
    """A marker in the real home folder and in a run directory / memory store; removed after."""
    token = f"agentnas-private-{uuid.uuid4().hex}"
    home_marker = Path.home() / f".agentnas-test-marker-{token}"
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "memory").mkdir()
    files = [home_marker, run_dir / "journal.sqlite", run_dir / "memory" / "experiments.json"]
    try:
        for f in files:
            f.write_text(token)
        yield token, files
    finally:
        home_marker.unlink(missing_ok=True)


def test_home_and_run_directory_are_invisible_to_the_candidate(
        evaluator: Evaluator, candidate: Any, tmp_path: Path,
        private_files: tuple[str, list[Path]]) -> None:
    token, files = private_files
    folders = sorted({str(f.parent) for f in files} | {"/root", "/home", "/tmp"})
    result = evaluator.evaluate_one(candidate(READ_PRIVATE, FILES=[str(f) for f in files],
                                              FOLDERS=folders))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    assert "READ {}" in result.failure.message
    assert token not in result.model_dump_json()
    assert all(f.read_text() == token for f in files)
    assert_still_serving(evaluator, tmp_path)



# --------------------------------------------------------------------------- huge files

HUGE_FILE = '''
import os

def write_huge(path):
    block = b"x" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(4 * __LIMIT_MB__):
            f.write(block)

if __WHERE__ == "import":
    write_huge("huge.bin")
if __WHERE__ == "scratch_root":
    try:
        write_huge("/scratch/huge.bin")
    except OSError as e:
        print("caught", e, flush=True)
''' + GOOD_MODEL + '''

_build = build_model

def build_model(input_shape, num_classes):
    if __WHERE__ == "build":
        write_huge("huge.bin")
    model = _build(input_shape, num_classes)
    if __WHERE__ == "forward":
        model.register_forward_hook(lambda *_: write_huge("huge.bin"))
    return model
'''


def _files_larger_than(root: Path, limit: int) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and not p.is_symlink()
            and p.stat().st_size > limit]


@pytest.mark.parametrize("where", ["import", "build", "forward"])
def test_writing_a_huge_file_is_a_crash_that_names_the_file_size_limit(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, where: str) -> None:
    result = evaluator.evaluate_one(candidate(HUGE_FILE, LIMIT_MB=FILE_LIMIT_MB, WHERE=where))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH, result.failure
    assert "file size" in result.failure.message.lower(), result.failure.message
    assert _files_larger_than(evaluator.sandboxes[0].scratch.parent, FILE_LIMIT_MB << 20) == []
    scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


def test_a_file_left_in_the_scratch_root_is_gone_after_the_evaluation(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(HUGE_FILE, LIMIT_MB=FILE_LIMIT_MB,
                                              WHERE="scratch_root"))

    assert result.ok, result.failure
    assert "File too large" in result.log_tail
    scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- labels and symlinks

LABEL_SEARCH = '''
import os
import zipfile

import numpy as np

found, scanned = [], 0
for root, dirs, files in os.walk("/"):
    if root in ("/proc", "/sys", "/dev"):
        dirs[:] = []
        continue
    for name in files:
        path = os.path.join(root, name)
        if name.split(".")[0] in ("y_test", "y_val"):
            found.append(path)
        if not name.endswith((".npz", ".npy")):
            continue
        scanned += 1
        try:
            if name.endswith(".npz"):
                with zipfile.ZipFile(path) as z:
                    keys = [n.removesuffix(".npy") for n in z.namelist()]
                if {"y_test", "y_val"} & set(keys):
                    found.append(path)
        except Exception:
            pass
with np.load([os.path.join("/data", f) for f in os.listdir("/data")][0]) as data:
    data_keys = sorted(data.files)
print("SCANNED", scanned, "DATA-KEYS", data_keys, "FOUND", found, flush=True)
''' + GOOD_MODEL


def test_searching_the_filesystem_finds_no_labels_to_copy(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    with np.load(evaluator.data_file) as data:  # what the sandbox was given, seen from the host
        assert sorted(data.files) == ["x_test", "x_train", "x_val", "y_train"]
    result = evaluator.evaluate_one(candidate(LABEL_SEARCH))

    assert result.ok, result.failure
    assert "FOUND []" in result.log_tail
    assert "DATA-KEYS ['x_test', 'x_train', 'x_val', 'y_train']" in result.log_tail
    assert result.metrics is not None and result.metrics.test_accuracy < 0.99
    assert_still_serving(evaluator, tmp_path)


SYMLINK_FILES = '''
import os

for name in ("result.json", "preds.npz", "log.txt", "model.onnx"):
    try:
        os.remove(name)
    except FileNotFoundError:
        pass
    os.symlink(__TARGETS__[name], name)
os._exit(0)
'''


def test_result_files_replaced_by_symlinks_leak_no_host_content(
        evaluator: Evaluator, tmp_path: Path) -> None:
    token = f"agentnas-host-only-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.txt"
    secret.write_text(token)
    targets = {"result.json": str(secret), "preds.npz": str(secret), "log.txt": str(secret),
               "model.onnx": "/etc/passwd"}
    result = evaluator.evaluate_one(write_candidate(tmp_path, SYMLINK_FILES, "attack.py",
                                                    TARGETS=targets))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    dumped = result.model_dump_json()
    assert token not in dumped
    assert "root:" not in dumped
    assert secret.read_text() == token
    scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


SYMLINK_JOB_DIR = '''
import os

job = os.getcwd()
os.rename(job, job + ".moved")
os.symlink(__HOST_DIR__, job)
os._exit(0)
'''


def test_a_job_folder_replaced_by_a_symlink_is_not_followed(
        evaluator: Evaluator, tmp_path: Path) -> None:
    # A host folder holding a perfect (label-derived) result: following the link would
    # report accuracy 1.0 and leak the host's log into the result.
    token = f"agentnas-host-log-{uuid.uuid4().hex}"
    host_dir = tmp_path / "host-results"
    host_dir.mkdir()
    (host_dir / "log.txt").write_text(token)
    (host_dir / "result.json").write_text(json.dumps({"status": "ok", "params": 1}))
    onehot = np.eye(10, dtype=np.float32) * 100
    np.savez(host_dir / "preds.npz", val=onehot[evaluator.data.y_val],
             test=onehot[evaluator.data.y_test])
    result = evaluator.evaluate_one(write_candidate(tmp_path, SYMLINK_JOB_DIR, "attack.py",
                                                    HOST_DIR=str(host_dir)))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH
    assert result.metrics is None
    assert token not in result.model_dump_json()
    assert sorted(p.name for p in host_dir.iterdir()) == ["log.txt", "preds.npz", "result.json"]
    scratch_is_empty(evaluator)
    assert_still_serving(evaluator, tmp_path)


SYMLINK_ONNX = GOOD_MODEL + '''
import os

_build = build_model

def _swap(*_):
    if os.path.isfile("model.onnx") and not os.path.islink("model.onnx"):
        os.remove("model.onnx")
        os.symlink(__TARGET__, "model.onnx")

def build_model(input_shape, num_classes):
    model = _build(input_shape, num_classes)
    model.register_forward_hook(_swap)  # runs again in training, after the export
    return model
'''


def test_an_onnx_file_swapped_for_a_symlink_is_not_kept(evaluator: Evaluator, candidate: Any,
                                                        tmp_path: Path) -> None:
    token = f"agentnas-host-onnx-{uuid.uuid4().hex}"
    secret = tmp_path / "host-secret.onnx"
    secret.write_text(token)
    result = evaluator.evaluate_one(candidate(SYMLINK_ONNX, TARGET=str(secret)))

    assert result.ok, result.failure
    assert result.onnx_path is None
    assert evaluator.out_dir is not None
    kept = [p for p in evaluator.out_dir.rglob("*") if p.is_file()]
    assert all(token not in p.read_text(errors="replace") for p in kept)
    assert_still_serving(evaluator, tmp_path)
