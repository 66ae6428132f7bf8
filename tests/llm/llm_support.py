"""Shared helpers for the LLM tests: a valid candidate file and a client factory."""

from __future__ import annotations

from typing import Any

from agentnas.llm import Cassette, LLMClient, LLMConfig

API_KEY = "sk-test-7f3a9c-never-store-me"
MODEL = "scripted-model"

CANDIDATE = '''import torch
from torch import nn


def build_model(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[-1], num_classes))  # (B, C, L) -> (B, classes)
'''


def config(base_url: str, **overrides: Any) -> LLMConfig:
    values: dict[str, Any] = {"max_retries": 3, "timeout_s": 5.0, "check_timeout_s": 1.0}
    values.update(overrides)
    return LLMConfig.resolve(base_url=base_url, model=MODEL, api_key=API_KEY, env={}, **values)


class Sleeps(list[float]):
    """An injected sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(base_url: str, *, sleeps: Sleeps | None = None, cassette: Cassette | None = None,
           mode: str = "record", **overrides: Any) -> LLMClient:
    return LLMClient(config(base_url, **overrides), cassette=cassette, mode=mode,  # type: ignore[arg-type]
                     sleep=sleeps if sleeps is not None else Sleeps())
