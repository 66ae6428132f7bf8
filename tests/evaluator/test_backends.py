"""Choosing the isolation backend, and refusing to run unconfined unless asked."""

from __future__ import annotations

import shutil

import pytest

from agentnas.evaluator import IsolationUnavailable, get_isolation, sandbox_env
from agentnas.evaluator import isolation as iso


@pytest.fixture(autouse=True)
def _fresh_instances() -> None:
    iso._instance.cache_clear()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_auto_prefers_bubblewrap_when_installed() -> None:
    assert get_isolation("auto").name == "bwrap"


def test_auto_falls_back_to_unshare_without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso.BwrapIsolation, "probe", lambda self: "bubblewrap (bwrap) is not installed")
    assert get_isolation("auto").name == "unshare"


def test_without_any_isolation_the_evaluator_refuses_and_names_the_unsafe_flag(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(iso.BwrapIsolation, "probe", lambda self: "not installed")
    monkeypatch.setattr(iso.UnshareIsolation, "probe", lambda self: "user namespaces disabled")
    with pytest.raises(IsolationUnavailable, match="--unsafe-no-isolation") as info:
        get_isolation("auto")
    assert "not installed" in str(info.value) and "user namespaces disabled" in str(info.value)
    assert get_isolation("auto", allow_unsafe=True).name == "none"


def test_isolation_none_requires_the_unsafe_flag() -> None:
    with pytest.raises(IsolationUnavailable, match="--unsafe-no-isolation"):
        get_isolation("none")
    assert get_isolation("none", allow_unsafe=True).name == "none"


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(IsolationUnavailable, match="unknown isolation"):
        get_isolation("docker")


def test_sandbox_environment_is_an_allow_list_without_secrets() -> None:
    parent = {"OPENAI_API_KEY": "sk-1", "MY_TOKEN": "t", "DB_PASSWORD": "p", "AWS_SECRET_ACCESS_KEY": "s",
              "OPENAI_BASE_URL": "http://x", "LANG": "C.UTF-8", "PATH": "/evil", "LD_PRELOAD": "/evil.so",
              "PYTHONPATH": "/evil", "OPENBLAS_CORETYPE": "Haswell", "HOME": "/root"}
    env = sandbox_env(parent, "/scratch")
    assert not any(k.startswith("OPENAI_") or "TOKEN" in k or "PASSWORD" in k or "SECRET" in k for k in env)
    assert env["PATH"] == "/usr/bin:/bin" and env["HOME"] == "/scratch"
    assert "LD_PRELOAD" not in env and "PYTHONPATH" not in env
    assert env["OPENBLAS_CORETYPE"] == "Haswell"  # needed on some CPUs, harmless

