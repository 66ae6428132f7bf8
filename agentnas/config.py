"""One configuration object, from `agentnas.toml`, `AGENTNAS_*` environment variables and
command-line flags, in that order of precedence (flags win, then the environment, then the
file, then the defaults).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError
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
