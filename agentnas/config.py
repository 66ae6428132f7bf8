"""One configuration object, from `agentnas.toml`, `AGENTNAS_*` environment variables and
command-line flags, in that order of precedence (flags win, then the environment, then the
file, then the defaults).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from agentnas.paths import default_cache_dir

CONFIG_FILE = "agentnas.toml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the source and the field."""


class CostsConfig(BaseModel):
    """`[costs]`: how a candidate's deployment costs are measured at the check (agentnas.encode.costs).

    The graph's own figures (parameters, MACs, peak activation memory, file size) cost a few
    milliseconds and are measured whenever `enabled`. Latency starts a confined ONNX Runtime
    process per candidate (about a second on a small machine), so by default ("auto") it is
    measured only when an objective or a constraint of the run needs it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    latency: Literal["auto", "always", "never"] = "auto"
    torch: Literal["auto", "always", "never"] = Field(
        default="auto", description="also time the model through torch on the evaluation device (traced at the "
        "check, run confined like ONNX Runtime); auto: when an objective needs it (torch_latency_ms)")
    repeats: int = Field(default=30, gt=0, le=100_000, description="timed runs per batch size, after the warm-up")
    warmup: int = Field(default=5, ge=0, le=10_000, description="untimed runs first (caches, allocator)")
    batch_sizes: tuple[int, ...] = Field(default=(1,), min_length=1, description="batch 1 is always measured")
    max_seconds: float = Field(default=10.0, gt=0, description="stop timing a batch size after this long")
    timeout_s: float = Field(default=120.0, gt=0, description="the measuring process is killed after this")
    memory_limit_mb: int = Field(default=2048, ge=64, description="address-space limit of the measuring process")

    @field_validator("batch_sizes")
    @classmethod
    def _batches(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(b <= 0 or b > 65_536 for b in value):
            raise ValueError("batch sizes must be between 1 and 65536")
        return tuple(sorted({1, *value}))


class AgentnasConfig(BaseSettings):
    """Settings shared by every command. Field `x` is `x = ...` in agentnas.toml,
    `AGENTNAS_X` in the environment and `--x` on the command line."""

    model_config = SettingsConfigDict(env_prefix="AGENTNAS_", extra="forbid", validate_default=True)

    task: str = "mnist1d"
    cache_dir: Path = Field(default_factory=default_cache_dir)
    out_dir: Path = Path("agentnas-out")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    isolation: Literal["auto", "bwrap", "unshare", "none"] = "auto"
    unsafe_no_isolation: bool = False
    slots: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    timeout_s: float = Field(default=600.0, gt=0)
    memory_limit_gb: float = Field(default=4.0, gt=0)
    file_size_limit_mb: float = Field(default=256.0, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    seed: int | None = Field(default=None, ge=0)
    # The [llm] table (endpoint, models per role, prices, caps): validated by agentnas.llm.LLMConfig
    # when a run uses the LLM proposer; never written to a journal as it may hold a key.
    llm: dict[str, Any] = Field(default_factory=dict)
    costs: CostsConfig = Field(default_factory=CostsConfig)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def config_path(config_file: Path | None = None) -> Path:
    """The TOML file in force: `--config`, else $AGENTNAS_CONFIG, else ./agentnas.toml."""
    return config_file or Path(os.environ.get("AGENTNAS_CONFIG") or CONFIG_FILE)


def load_config(config_file: Path | None = None, **flags: Any) -> AgentnasConfig:
    """The effective configuration. `flags` set to None are treated as not given."""
    path = config_path(config_file)
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    if config_file is None and os.environ.get("AGENTNAS_CONFIG") and not path.is_file():
        raise ConfigError(f"config file {path} (from $AGENTNAS_CONFIG) does not exist")
    if path.is_file():
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path} is not valid TOML: {e}") from e
    # A subclass bound to this file: the TOML source reads `toml_file` from the class config.
    bound = type("AgentnasConfig", (AgentnasConfig,),
                 {"model_config": {**AgentnasConfig.model_config, "toml_file": path}})
    try:
        config: AgentnasConfig = bound(**{k: v for k, v in flags.items() if v is not None})
        return config
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid configuration (flags, AGENTNAS_* variables or {path}): {problems}") from e
