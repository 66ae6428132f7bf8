"""Zero-cost proxies: deterministic, harmless to the model they measure, defined for any
network, and checked before the trusted side believes them."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from agentnas.evaluator.proxies import (
    PROXIES_FILE,
    PROXY_NAMES,
    PROXY_RANGE,
    checked_proxies,
    compute_proxies,
    proxy_vector,
    read_proxies_beside,
    sandbox_proxies,
)


class SmallCnn(nn.Module):
    def __init__(self, functional: bool = False) -> None:
        super().__init__()
        self.functional = functional
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.conv(x))                                   # (B, 8, 8, 8)
        h = F.relu(h) if self.functional else self.act(h)
        out: torch.Tensor = self.head(self.drop(h.mean((2, 3))))    # (B, 10)
        return out


def _built(functional: bool = False) -> nn.Module:
    torch.manual_seed(3)
    return SmallCnn(functional)


def test_the_sandbox_computes_the_proxies_the_trusted_side_expects() -> None:
    assert tuple(sandbox_proxies().PROXY_NAMES) == PROXY_NAMES


def test_proxies_are_deterministic_and_leave_model_and_random_stream_alone() -> None:
    model = _built()
    model.eval()
    before = copy.deepcopy(model.state_dict())
    torch.manual_seed(42)
    rng = torch.get_rng_state()
    first = compute_proxies(model, (3, 8, 8), 10)
    assert torch.equal(torch.get_rng_state(), rng)
    assert compute_proxies(model, (3, 8, 8), 10) == first
    assert set(first) == set(PROXY_NAMES) and all(v is not None and math.isfinite(v) for v in first.values())
    assert not model.training
    for name, tensor in model.state_dict().items():  # BatchNorm statistics and weights untouched
        assert torch.equal(tensor, before[name]), name


def test_functional_relu_is_seen_like_the_module_and_a_model_without_one_has_no_naswot() -> None:
    module, functional = _built(False), _built(True)
    assert compute_proxies(module, (3, 8, 8), 10)["naswot"] == compute_proxies(functional, (3, 8, 8), 10)["naswot"]
    linear = nn.Sequential(nn.Flatten(), nn.Linear(40, 10))
    proxies = compute_proxies(linear, (1, 40), 10)
    assert proxies["naswot"] is None and proxies["synflow"] is not None


def test_a_network_whose_output_ignores_its_input_gets_the_floor() -> None:
    class Ignore(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU())
            self.bias = nn.Parameter(torch.randn(10))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x).sum(1, keepdim=True) * 0.0 + self.bias    # (B, 10), the same for every x

    floor = sandbox_proxies().FLOOR
    assert compute_proxies(Ignore(), (1, 40), 10)["jacob_cov"] == floor
    alive = compute_proxies(nn.Sequential(nn.Flatten(), nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10)), (1, 40), 10)
    assert alive["jacob_cov"] is not None and alive["jacob_cov"] > floor


def test_reported_proxies_are_checked_before_they_are_believed() -> None:
    good = {"naswot": 10.0, "synflow": 40.0, "gradnorm": 2.0, "jacob_cov": -0.1}
    assert checked_proxies(good) == good
    assert checked_proxies({**good, "synflow": 1e300})["synflow"] == PROXY_RANGE[1]  # type: ignore[index]
    assert checked_proxies({**good, "naswot": float("nan")})["naswot"] is None  # type: ignore[index]
    assert checked_proxies({**good, "gradnorm": True})["gradnorm"] is None  # type: ignore[index]
    assert checked_proxies({**good, "jacob_cov": "0.5"})["jacob_cov"] is None  # type: ignore[index]
    assert checked_proxies({n: None for n in PROXY_NAMES}) is None
    assert checked_proxies(["naswot", 1.0]) is None
    vector = proxy_vector({**good, "naswot": None})
    assert vector.shape == (2 * len(PROXY_NAMES),) and list(vector[len(PROXY_NAMES):]) == [1.0, 0.0, 0.0, 0.0]
    assert list(proxy_vector(None)) == [0.0] * len(PROXY_NAMES) + [1.0] * len(PROXY_NAMES)


def test_proxies_beside_a_graph_are_read_back_checked(tmp_path: Path) -> None:
    graph = tmp_path / "model.onnx"
    assert read_proxies_beside(graph) is None
    (tmp_path / PROXIES_FILE).write_text(json.dumps({"naswot": 1.0, "synflow": -1e9}))
    assert read_proxies_beside(graph) == {"naswot": 1.0, "synflow": PROXY_RANGE[0], "gradnorm": None,
                                          "jacob_cov": None}
    (tmp_path / PROXIES_FILE).write_text(json.dumps({"naswot": 1.0, "pad": "x" * 5000}))
    assert read_proxies_beside(graph) is None  # too big to be ours
    (tmp_path / PROXIES_FILE).write_text("{not json")
    assert read_proxies_beside(graph) is None


@pytest.mark.parametrize("shape", [(1, 40), (3, 16, 16), (12, 6)])
def test_proxies_work_for_any_input_shape(shape: tuple[int, ...]) -> None:
    model = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 32), nn.GELU(), nn.Linear(32, 5))
    proxies = compute_proxies(model, shape, 5)
    assert all(proxies[n] is not None for n in PROXY_NAMES)
