"""LLMConfig: sources and their precedence, URL normalisation, the secret key, per-role models."""

from __future__ import annotations

import pytest

from agentnas.llm import NO_KEY_PLACEHOLDER, LLMConfig, LLMConfigError, normalise_base_url

ENV = {"OPENAI_BASE_URL": "http://env-host:8000/v1", "OPENAI_API_KEY": "sk-env-secret",
       "AGENTNAS_LLM_MODEL": "env-model", "AGENTNAS_LLM_ANALYST_MODEL": "env-analyst"}


def test_explicit_values_beat_env_which_beats_settings() -> None:
    settings = {"base_url": "http://file-host/v1", "model": "file-model", "timeout_s": 30, "engineer_model": "fe"}
    cfg = LLMConfig.resolve(model="flag-model", env=ENV, settings=settings)
    assert cfg.base_url == "http://env-host:8000/v1" and cfg.model == "flag-model" and cfg.timeout_s == 30
    assert cfg.models() == {"researcher": "flag-model", "engineer": "fe", "analyst": "env-analyst"}
    assert cfg.api_key is not None and cfg.api_key.get_secret_value() == "sk-env-secret"
    assert LLMConfig.resolve(env={}, settings=settings).base_url == "http://file-host/v1"


def test_empty_values_count_as_not_given() -> None:
    cfg = LLMConfig.resolve(base_url="", api_key="", env={"OPENAI_BASE_URL": "http://h/v1", "OPENAI_API_KEY": ""})
    assert cfg.base_url == "http://h/v1" and cfg.api_key is None
    assert cfg.api_key_value() == NO_KEY_PLACEHOLDER


@pytest.mark.parametrize(("given", "expected"), [
    ("http://localhost:8000/v1", "http://localhost:8000/v1"),
    ("http://localhost:8000/v1/", "http://localhost:8000/v1"),
    ("http://localhost:11434", "http://localhost:11434/v1"),
    ("https://example.test/api/v1/chat/completions", "https://example.test/api/v1"),
    ("  http://h:1/v1  ", "http://h:1/v1"),
])
def test_base_url_is_normalised_to_end_in_v1(given: str, expected: str) -> None:
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize("bad", ["localhost:8000/v1", "ftp://h/v1", "http://localhost:11434/api", "http:///v1"])
def test_base_url_that_cannot_be_v1_is_a_clear_error(bad: str) -> None:
    with pytest.raises(LLMConfigError, match="/v1|http"):
        LLMConfig.resolve(base_url=bad, env={})


def test_key_is_hidden_everywhere_a_config_is_shown() -> None:
    cfg = LLMConfig.resolve(env=ENV)
    for shown in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.public_dict())):
        assert "sk-env-secret" not in shown
    assert cfg.public_dict()["api_key_set"] is True and "api_key" not in cfg.public_dict()


def test_missing_model_or_endpoint_names_the_flag_and_variable() -> None:
    cfg = LLMConfig.resolve(env={})
    with pytest.raises(LLMConfigError, match="--llm-base-url or set OPENAI_BASE_URL"):
        cfg.require_endpoint()
    with pytest.raises(LLMConfigError, match="AGENTNAS_LLM_MODEL"):
        cfg.model_for("researcher")
    with pytest.raises(LLMConfigError, match="unknown LLM role"):
        cfg.model_for("manager")


def test_invalid_values_name_the_field() -> None:
    with pytest.raises(LLMConfigError, match="timeout_s"):
        LLMConfig.resolve(env={}, timeout_s=-1)
    with pytest.raises(LLMConfigError, match="caps.max_calls"):
        LLMConfig.resolve(env={}, caps={"max_calls": 0})
