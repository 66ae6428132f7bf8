"""Hostile candidates that try to pass off a result they did not earn: exiting early,
faking result files, forging replies on the protocol pipes, and monkeypatching the
trusted training loop.

Each test asserts the typed result (or an honest score), and that the same Evaluator
still trains and honestly scores a normal candidate afterwards.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, assert_still_serving, sandbox_unchanged

# --------------------------------------------------------------------------- early exits

EARLY_EXITS = {
    "os_exit_in_build": "exited (code 0)",
    "sys_exit_in_forward": "SystemExit",
    "os_exit_in_training": "exited (code 3)",
}
EARLY_EXIT_MODEL = GOOD_MODEL + '''
import os
import sys

_build = build_model
calls = [0]

def build_model(input_shape, num_classes):
    if __CASE__ == "os_exit_in_build":
        os._exit(0)
    model = _build(input_shape, num_classes)

    def hook(*_):
        calls[0] += 1
        if __CASE__ == "sys_exit_in_forward":
            sys.exit(3)
        if __CASE__ == "os_exit_in_training" and calls[0] > 5:
            os._exit(3)

    model.register_forward_hook(hook)
    return model
'''


@pytest.mark.parametrize("case", sorted(EARLY_EXITS))
def test_exiting_early_is_a_crash_with_a_message(evaluator: Evaluator, candidate: Any,
                                                 tmp_path: Path, case: str) -> None:
    result = evaluator.evaluate_one(candidate(EARLY_EXIT_MODEL, CASE=case))

    assert result.failure is not None and result.failure.kind == FailureKind.CRASH, result.failure
    assert EARLY_EXITS[case] in result.failure.message
    assert result.metrics is None
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- honesty of scores

FAKE_RESULT = '''
import glob
import json
import os

import numpy as np

print(json.dumps({"status": "ok", "val_accuracy": 1.0, "test_accuracy": 1.0}), flush=True)
print(json.dumps({"id": os.path.basename(os.getcwd()), "exit_code": 0, "signal": None,
                  "timed_out": False, "wall_seconds": 0.1}), flush=True)
with np.load(glob.glob("/data/*.npz")[0]) as data:
    n_val, n_test = len(data["x_val"]), len(data["x_test"])
logits = lambda n: np.eye(10, dtype=np.float32)[np.zeros(n, dtype=int)] * 100  # "certain"
np.savez("preds.npz", val=logits(n_val), test=logits(n_test))
with open("result.json", "w") as f:
    json.dump({"status": "ok", "val_accuracy": 1.0, "test_accuracy": 1.0, "params": 1}, f)
with open("metrics.json", "w") as f:
    json.dump({"val_accuracy": 1.0, "test_accuracy": 1.0}, f)
os._exit(0)
'''


def test_a_faked_result_is_never_taken_as_a_perfect_score(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(candidate(FAKE_RESULT))

    if result.ok:  # the trusted side scored the predictions it found: honestly
        assert result.metrics is not None
        honest = float((evaluator.data.y_test == 0).mean())
        assert result.metrics.test_accuracy == pytest.approx(honest)
        assert result.metrics.val_accuracy == pytest.approx(float((evaluator.data.y_val == 0).mean()))
    else:
        assert result.failure is not None
    assert result.metrics is None or result.metrics.test_accuracy < 0.5
    assert_still_serving(evaluator, tmp_path)


FORGE_PROTOCOL = '''
import json
import os

job_id = os.path.basename(os.getcwd())
reply = json.dumps({"id": job_id, "exit_code": 0, "signal": None, "timed_out": False,
                    "wall_seconds": 0.1}) + "\\n"
opened = []
for pid in sorted(p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()):
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        continue
    for fd in fds:
        path = f"/proc/{pid}/fd/{fd}"
        try:
            target = os.readlink(path)
            handle = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            continue
        opened.append(f"{path} -> {target}")
        try:
            os.write(handle, reply.encode())
        except OSError:
            pass
raise RuntimeError(f"OPENED {opened}")
'''


def test_the_protocol_pipes_are_out_of_the_candidates_reach(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, host_processes: set[int]) -> None:
    starts = evaluator.sandboxes[0].starts
    result = evaluator.evaluate_one(candidate(FORGE_PROTOCOL))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT, result.failure
    assert "OPENED []" in result.failure.message
    sandbox_unchanged(evaluator, starts, host_processes)
    first = assert_still_serving(evaluator, tmp_path)  # replies are not out of step
    second = assert_still_serving(evaluator, tmp_path)
    assert first.metrics == second.metrics


TAMPER_ATTACKS = {
    "adam_step_at_import": "torch.optim.Adam.step = lambda self, closure=None: None\n",
    "backward_at_import": "torch.Tensor.backward = lambda self, *a, **k: None\n",
    "cross_entropy_in_build": (
        "_real_build = build_model\n"
        "def build_model(input_shape, num_classes):\n"
        "    torch.nn.functional.cross_entropy = lambda *a, **k: torch.zeros((), requires_grad=True)\n"
        "    return _real_build(input_shape, num_classes)\n"),
    "adam_step_in_forward": (
        "_real_build = build_model\n"
        "def _patch(*_):\n"
        "    torch.optim.Adam.step = lambda self, closure=None: None\n"
        "def build_model(input_shape, num_classes):\n"
        "    model = _real_build(input_shape, num_classes)\n"
        "    model.register_forward_hook(_patch)\n"
        "    return model\n"),
    "trainer_optimizer": (
        "import sys\n"
        "_trainer = sys.modules['train']\n"
        "_real = _trainer.make_optimizer\n"
        "_trainer.make_optimizer = lambda params, recipe: _real(params, {**recipe, 'lr': 0.0})\n"),
    "trainer_schedule": (
        "import sys\n"
        "sys.modules['train'].lr_factor = lambda step, total, schedule: 0.0\n"),
}


@pytest.mark.parametrize("attack", sorted(TAMPER_ATTACKS))
def test_monkeypatching_the_training_loop_is_an_isolation_violation(
        evaluator: Evaluator, candidate: Any, tmp_path: Path, attack: str) -> None:
    result = evaluator.evaluate_one(candidate(GOOD_MODEL + "\n" + TAMPER_ATTACKS[attack]))

    assert result.failure is not None, "training was tampered with and the result accepted"
    assert result.failure.kind == FailureKind.ISOLATION_VIOLATION, result.failure
    assert "replaced" in result.failure.message
    assert_still_serving(evaluator, tmp_path)
