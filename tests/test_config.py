"""Configuration precedence: agentnas.toml < AGENTNAS_* environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentnas.config import ConfigError, load_config


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for var in ("AGENTNAS_SLOTS", "AGENTNAS_TIMEOUT_S", "AGENTNAS_TASK", "AGENTNAS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_defaults_apply_without_any_source(in_tmp: Path) -> None:
    cfg = load_config()
    assert cfg.task == "mnist1d" and cfg.isolation == "auto" and not cfg.unsafe_no_isolation


def test_toml_in_working_dir_is_read(in_tmp: Path) -> None:
    (in_tmp / "agentnas.toml").write_text('task = "digits"\nslots = 3\n')
    cfg = load_config()
    assert (cfg.task, cfg.slots) == ("digits", 3)


def test_environment_beats_toml_and_flags_beat_environment(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (in_tmp / "agentnas.toml").write_text("slots = 3\ntimeout_s = 10\n")
    monkeypatch.setenv("AGENTNAS_TIMEOUT_S", "20")
    monkeypatch.setenv("AGENTNAS_SLOTS", "5")
    cfg = load_config(slots=7, timeout_s=None)
    assert cfg.timeout_s == 20.0  # env beats file; an unset flag (None) does not count
    assert cfg.slots == 7  # flag beats env


def test_explicit_config_file_is_used(in_tmp: Path) -> None:
    other = in_tmp / "other.toml"
    other.write_text('task = "digits"\n')
    assert load_config(other).task == "digits"


def test_missing_explicit_config_file_is_an_error(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(in_tmp / "nope.toml")


def test_unknown_key_in_toml_names_the_key(in_tmp: Path) -> None:
    (in_tmp / "agentnas.toml").write_text("slotz = 3\n")
    with pytest.raises(ConfigError, match="slotz"):
        load_config()


def test_malformed_toml_is_reported_with_the_file(in_tmp: Path) -> None:
    (in_tmp / "agentnas.toml").write_text("slots = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config()


def test_invalid_value_from_environment_is_reported(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTNAS_SLOTS", "-1")
    with pytest.raises(ConfigError, match="slots"):
        load_config()
