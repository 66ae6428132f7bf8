"""The cassette: every request/response pair under a deterministic key, so a run can be replayed.

Key = sha256 of the canonical JSON of the request (role, model, messages, the parameters that
change the answer) followed by `:<n>`, the number of earlier identical requests in this session:
the same prompt asked three times replays its three recorded answers in order. Transport details
(streaming, timeouts, a json_object mode the server refused) are not part of the key.

`JsonlCassette` keeps one JSON object a line; the run journal (SQLite) is the other backend,
written by the run loop.
"""

from __future__ import annotations

import hashlib
import json
import threading
from abc import ABC, abstractmethod
from pathlib import Path

from agentnas.llm.errors import CassetteConflict
from agentnas.records import LLMExchange, LLMRequest, LLMResponse


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_fingerprint(request: LLMRequest) -> str:
    return hashlib.sha256(canonical_json(request.model_dump(mode="json")).encode()).hexdigest()


class KeyCounter:
    """Hands out `<fingerprint>:<n>` keys; n counts earlier identical requests (thread-safe)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def next_key(self, request: LLMRequest) -> str:
        fp = request_fingerprint(request)
        with self._lock:
            n = self._seen.get(fp, 0)
            self._seen[fp] = n + 1
        return f"{fp}:{n}"


class Cassette(ABC):
    """Where exchanges are kept.

    Contract: `record(key, request, response)` stores the pair durably before returning;
    recording a key again with the same response is a no-op and with another response raises
    `CassetteConflict` (an answer once given is never rewritten). `lookup(key)` returns the
    exchange or None. Neither ever sees the API key: the client strips it before recording.
    """

    @abstractmethod
    def record(self, key: str, request: LLMRequest, response: LLMResponse) -> None: ...

    @abstractmethod
    def lookup(self, key: str) -> LLMExchange | None: ...


class MemoryCassette(Cassette):
    """A cassette in a dict (tests, and a short-lived record/replay in one process)."""

    def __init__(self) -> None:
        self._entries: dict[str, LLMExchange] = {}
        self._lock = threading.Lock()

    def record(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        with self._lock:
            _check_conflict(self._entries.get(key), key, response)
            self._entries[key] = LLMExchange(key=key, request=request, response=response)

    def lookup(self, key: str) -> LLMExchange | None:
        with self._lock:
            return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)


class JsonlCassette(Cassette):
    """One exchange a line in a JSONL file, appended and flushed per call.

    A line cut short by a kill is skipped on load (it was never acknowledged), and the next
    append starts on a fresh line, so nothing recorded before is lost.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._entries: dict[str, LLMExchange] = {}
        self._lock = threading.Lock()
        self.skipped_lines = 0
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                ex = LLMExchange.model_validate_json(line)
            except ValueError:
                self.skipped_lines += 1
                continue
            self._entries.setdefault(ex.key, ex)

    def record(self, key: str, request: LLMRequest, response: LLMResponse) -> None:
        ex = LLMExchange(key=key, request=request, response=response)
        with self._lock:
            old = self._entries.get(key)
            _check_conflict(old, key, response)
            if old is not None:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as f:
                f.seek(0, 2)
                if f.tell() > 0:
                    f.seek(-1, 2)
                    if f.read(1) != b"\n":
                        f.write(b"\n")
                f.write(ex.model_dump_json().encode("utf-8") + b"\n")
                f.flush()
            self._entries[key] = ex

    def lookup(self, key: str) -> LLMExchange | None:
        with self._lock:
            return self._entries.get(key)

    def __len__(self) -> int:
        return len(self._entries)


def _check_conflict(old: LLMExchange | None, key: str, response: LLMResponse) -> None:
    if old is not None and old.response != response:
        raise CassetteConflict(
            f"cassette already holds another response for key {key}: record into a new cassette, "
            "or replay this one")
