"""The zero-cost proxies computed inside the sandbox: reported with the export, capped in
time, never the reason an evaluation fails, and without effect on training."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentnas.evaluator import EvalOptions, Evaluator, IsolationUnavailable
from agentnas.evaluator.proxies import PROXIES_FILE, PROXY_NAMES, read_proxies_beside
from agentnas.tasks import get_task

CNN = '''
import torch
import torch.nn.functional as F
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)               # draws from torch's global random stream
        self.head = nn.Linear(8 * 8 * 8, num_classes)

    def forward(self, x):
        __TRAP__
        h = F.relu(self.conv(x))                  # (B, 8, 8, 8)
        return self.head(self.drop(h.flatten(1)))  # (B, num_classes)


def build_model(input_shape, num_classes):
    return Net(num_classes)
'''
TRAPS = {
    "none": "pass",
    "slow": "if x.shape[0] == 8: time.sleep(60)",            # only the proxies' batch of 8
    "float64": "assert x.dtype != torch.float64, 'no doubles here'",   # synflow's pass fails
}


def _candidate(folder: Path, trap: str) -> Path:
    path = folder / f"cnn_{trap}.py"
    path.write_text("import time\n" + CNN.replace("__TRAP__", TRAPS[trap]))
    return path


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evaluator]:
    folder = tmp_path_factory.mktemp("sandbox-proxies")
    options = EvalOptions(check_only=True, require_export=True, slots=1, device="cpu", timeout_s=60,
                          proxy_seconds=2.0)
    try:
        ev = Evaluator(get_task("digits"), options, cache_dir=folder / "cache", out_dir=folder / "out")
    except IsolationUnavailable as e:
        pytest.skip(f"no isolation here: {e}")
    with ev:
        ev.warm_up()
        yield ev


def test_a_checked_candidate_comes_back_with_its_proxies_beside_its_graph(evaluator: Evaluator,
                                                                          tmp_path: Path) -> None:
    result = evaluator.evaluate_one(_candidate(tmp_path, "none"))
    assert result.ok and result.proxies is not None and result.onnx_path is not None
    assert set(result.proxies) == set(PROXY_NAMES) and all(v is not None for v in result.proxies.values())
    assert read_proxies_beside(Path(result.onnx_path)) == result.proxies
    again = evaluator.evaluate_one(_candidate(tmp_path, "none"))
    assert again.proxies == result.proxies  # deterministic across fresh sandboxed processes


def test_slow_proxies_are_cut_off_without_failing_the_candidate(evaluator: Evaluator, tmp_path: Path) -> None:
    t0 = time.perf_counter()
    result = evaluator.evaluate_one(_candidate(tmp_path, "slow"))
    assert result.ok and result.proxies is None and result.onnx_path is not None
    assert time.perf_counter() - t0 < 30
    assert not (Path(result.onnx_path).parent / PROXIES_FILE).exists()


def test_a_proxy_the_model_cannot_take_is_left_unknown(evaluator: Evaluator, tmp_path: Path) -> None:
    result = evaluator.evaluate_one(_candidate(tmp_path, "float64"))
    assert result.ok and result.proxies is not None
    assert result.proxies["synflow"] is None and result.proxies["naswot"] is not None


def test_proxies_before_training_do_not_change_what_training_gives(tmp_path: Path) -> None:
    path = _candidate(tmp_path, "none")
    metrics = []
    for proxies in (False, True):
        options = EvalOptions(slots=1, device="cpu", timeout_s=120, epochs=1, proxies=proxies)
        try:
            ev = Evaluator(get_task("digits"), options, cache_dir=tmp_path / "cache", out_dir=tmp_path / "out")
        except IsolationUnavailable as e:
            pytest.skip(f"no isolation here: {e}")
        with ev:
            result = ev.evaluate_one(path)
        assert result.ok, result.failure
        assert (result.proxies is not None) == proxies
        metrics.append(json.dumps(result.metrics.model_dump() if result.metrics else None))
    assert metrics[0] == metrics[1]
