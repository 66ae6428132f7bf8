"""Trusted-side torch work on one thread: the caller's thread count comes back afterwards,
also when the block fails, and the proxies are computed that way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from torch import nn

from agentnas.evaluator.proxies import compute_proxies
from agentnas.threads import one_thread


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_one_thread_inside_and_the_callers_count_restored_even_after_an_error(two_threads: None) -> None:
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), one_thread():
        raise RuntimeError("the block failed")
    assert torch.get_num_threads() == 2


def test_proxies_are_computed_on_one_thread_and_leave_the_callers_count(two_threads: None,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    real_forward = nn.Linear.forward

    def forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return real_forward(self, x)

    monkeypatch.setattr(nn.Linear, "forward", forward)
    torch.manual_seed(0)
    proxies = compute_proxies(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), (6,), 3)
    assert seen and set(seen) == {1}
    assert proxies["naswot"] is not None
    assert torch.get_num_threads() == 2
