"""Hostile candidates that reach for the network or for the parent's secrets.

Each test runs one attack against the real sandbox, on every isolation backend, and asserts
the typed result, that the attack had no effect (checked on the host), and that the same
Evaluator still trains and honestly scores a normal candidate afterwards.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

from agentnas.evaluator import Evaluator
from agentnas.records import FailureKind

from .conftest import GOOD_MODEL, RUN_ID, SECRETS, assert_still_serving

# --------------------------------------------------------------------------- network

NETWORK_ATTACK = '''
import socket

attempts = []
for host in __HOSTS__:
    try:
        conn = socket.create_connection((host, __TCP_PORT__), timeout=2)
        conn.sendall(b"PWNED")
        attempts.append(f"tcp {host}: CONNECTED")
    except OSError as e:
        attempts.append(f"tcp {host}: {type(e).__name__} {e}")
    try:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(b"PWNED", (host, __UDP_PORT__))
        attempts.append(f"udp {host}: sent")
    except OSError as e:
        attempts.append(f"udp {host}: {type(e).__name__} {e}")
try:
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.connect(__ABSTRACT__)
    unix.sendall(b"PWNED")
    attempts.append("unix: CONNECTED")
except OSError as e:
    attempts.append(f"unix: {type(e).__name__} {e}")
print("NETWORK-ATTEMPTS", attempts, flush=True)
''' + GOOD_MODEL


def _host_addresses() -> list[str]:
    hosts = ["127.0.0.1"]
    with contextlib.suppress(OSError):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.connect(("10.255.255.255", 1))  # no packet is sent; this picks the outward address
        hosts.append(probe.getsockname()[0])
        probe.close()
    return sorted(set(hosts))


def test_connecting_to_a_listener_on_the_host_reaches_nothing(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = f"\0agentnas-test-{uuid.uuid4().hex}"
    with tcp, udp, unix:
        tcp.bind(("0.0.0.0", 0))
        tcp.listen(8)
        udp.bind(("0.0.0.0", 0))
        unix.bind(abstract)
        unix.listen(8)
        path = candidate(NETWORK_ATTACK, HOSTS=_host_addresses(), TCP_PORT=tcp.getsockname()[1],
                         UDP_PORT=udp.getsockname()[1], ABSTRACT=abstract)
        result = evaluator.evaluate_one(path)

        assert result.ok, result.failure
        assert "NETWORK-ATTEMPTS" in result.log_tail
        assert "CONNECTED" not in result.log_tail
        for listener in (tcp, unix):
            listener.settimeout(0.5)
            with pytest.raises(TimeoutError):
                listener.accept()
        udp.settimeout(0.5)
        with pytest.raises(TimeoutError):
            udp.recvfrom(64)
    assert_still_serving(evaluator, tmp_path)


# --------------------------------------------------------------------------- secrets

SECRET_DUMP = '''
import os

seen = {"environ": dict(os.environ)}
for pid in ["self", *sorted(p for p in os.listdir("/proc") if p.isdigit())]:
    for name in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{name}", "rb") as f:
                seen[f"/proc/{pid}/{name}"] = f.read().decode(errors="replace")
        except OSError as e:
            seen[f"/proc/{pid}/{name}"] = f"{type(e).__name__}"
print(seen, flush=True)
raise RuntimeError(f"stolen: {seen}")
'''


def test_secrets_in_the_parent_environment_never_reach_the_result(
        evaluator: Evaluator, candidate: Any, tmp_path: Path) -> None:
    assert os.environ["OPENAI_API_KEY"] == SECRETS["OPENAI_API_KEY"]  # really in the parent
    result = evaluator.evaluate_one(candidate(SECRET_DUMP))

    assert result.failure is not None and result.failure.kind == FailureKind.IMPORT
    assert "PYTHONHASHSEED" in result.failure.message  # the environment was dumped...
    assert "PYTHONHASHSEED" in result.log_tail
    dumped = result.model_dump_json()
    for key, value in SECRETS.items():  # ...and held none of the secrets
        assert value not in dumped, key
        assert key not in dumped, key
    assert RUN_ID not in dumped
    assert_still_serving(evaluator, tmp_path)
