"""Fixtures of the executor tests: a one-CPU Ray head on 127.0.0.1 for the session, and the
evaluation options every test shares (the digits task, two short epochs, isolated)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
from executor_support import AUTH_ENV, RayNode, free_port, processes_mentioning

from agentnas.evaluator import EvalOptions, IsolationUnavailable, get_isolation


@pytest.fixture(scope="session", autouse=True)
def ray_auth() -> Iterator[None]:
    """The test cluster's token in this process's environment before Ray is first imported here
    (Ray reads its authentication mode once, at import)."""
    with pytest.MonkeyPatch.context() as env:
        for key, value in AUTH_ENV.items():
            env.setenv(key, value)
        yield


@pytest.fixture(scope="session")
def isolation() -> str:
    """The isolation backend that works here; the executor tests never run candidates unconfined."""
    try:
        return get_isolation("auto").name
    except IsolationUnavailable as e:
        pytest.skip(f"no sandbox isolation on this machine: {e}")


@pytest.fixture(scope="session")
def options(isolation: str) -> EvalOptions:
    return EvalOptions(epochs=2, slots=1, device="cpu", timeout_s=60.0, memory_limit_gb=1.0, isolation=isolation)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("agentnas-cache")


class Cluster:
    def __init__(self, head: RayNode, port: int, second: RayNode) -> None:
        self.head, self.port, self.second = head, port, second

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory, isolation: str) -> Iterator[Cluster]:
    """`ray start --head` with one CPU on 127.0.0.1, and a second one-CPU node joining it
    (`second`, which tests may kill; it comes up while the first tests run). On teardown every
    process of both nodes is killed (by session, not by name) and none may remain, sandboxes
    included."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (pip install 'agentnas[ray]')")
    folder = tmp_path_factory.mktemp("ray-head")
    port = free_port()
    head = RayNode(folder / "head", head_port=port, head=True)
    second: RayNode | None = None
    try:
        head.wait_started()
        second = RayNode(folder / "second", head_port=port, head=False)
        yield Cluster(head, port, second)
    finally:
        for node in [n for n in (second, head) if n is not None]:
            node.kill()
    for node in [n for n in (second, head) if n is not None]:
        assert node.wait_gone() == [], f"processes of the Ray node in {node.folder} outlived it"
    assert processes_mentioning(str(folder)) == [], "a sandbox started on a Ray node outlived it"
