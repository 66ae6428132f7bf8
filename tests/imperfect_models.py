"""Scripted behaviours of real, imperfect models, for the scripted OpenAI-compatible server.

Each `Behaviour` answers a request the way small local models were seen to: the same answer
every time, code without any JSON, JSON in a fenced block with prose around it, the answer in
a tool call with `content: null`, no `usage`, a reply cut by the token limit, an echo of a
JSON schema instead of a filled object, or (`echo_format`, seen with Qwen2.5-Coder-1.5B) the
prompt's reply-format paragraph copied before an answer laid out under markdown headings.
Hypothesis, repair and lesson requests get a fitting
answer in the same style, so a whole run can be driven by one behaviour.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

from scripted_openai import RecordedRequest, Reply

MLP = """import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, input_shape, num_classes, hidden):
        super().__init__()
        width = 1
        for d in input_shape:
            width *= d
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.net(x)  # (B, num_classes)


def build_model(input_shape, num_classes):
    return MLP(input_shape, num_classes, {h})
"""
SCHEMA_ECHO = ('```json\n{"description": "A candidate: the full model file, and why it should help.", '
               '"properties": {"code": {"description": "The whole Python file", "type": "string"}, '
               '"rationale": {"type": "string"}}, "required": ["code"], "type": "object"}\n```')


def kind_of(request: RecordedRequest) -> str:
    text = " ".join(str(m.get("content", "")) for m in request.messages)
    if "Diagnose the failure" in text:
        return "repair"
    if "Write the lesson" in text:
        return "lesson"
    if "Propose one new hypothesis" in text:
        return "hypothesis"
    return "proposal"


def reply_format(request: RecordedRequest) -> str:
    """The prompt's '## Reply format' paragraph, as a model copies it."""
    text = str(request.messages[-1].get("content", ""))
    return text.split("## Reply format", 1)[-1].strip() if "## Reply format" in text else ""


def _in_words(kind: str, n: int) -> str:
    if kind == "hypothesis":
        return f"## Title:\n**Wider layers**\n\n### Description:\nwider hidden layers ({n}) [K1]"
    if kind == "lesson":
        return "### Lesson:\nWider layers helped a little.\nEvidence: K1"
    code = MLP.format(h=16 + 8 * n)
    return f"### Changes:\nwidened the hidden layer\n```python\n{code}```"


def _wrap(obj: dict[str, object], style: str) -> Reply:
    if style == "fenced_json":
        return Reply.text(f"Sure! Here is the answer.\n```json\n{json.dumps(obj, indent=1)}\n```\nHope this helps.")
    if style == "tool_call":
        return Reply(content=json.dumps(obj), tool_call=True)
    if style == "no_usage":
        return Reply.json(obj, omit_usage=True)
    return Reply.json(obj)


class Behaviour:
    """A request handler; `seen` counts requests by kind (proposal, repair, hypothesis, lesson)."""

    def __init__(self, style: str, omit_usage: bool = False) -> None:
        self.style = style
        self.omit_usage = omit_usage  # a server that never reports usage, whatever the reply
        self.seen = {"proposal": 0, "repair": 0, "hypothesis": 0, "lesson": 0}
        self._n = itertools.count()

    def __call__(self, request: RecordedRequest) -> Reply:
        reply = self.answer(request)
        reply.omit_usage = reply.omit_usage or self.omit_usage
        return reply

    def answer(self, request: RecordedRequest) -> Reply:
        kind = kind_of(request)
        self.seen[kind] += 1
        n = next(self._n)
        if self.style == "echo_format":
            return Reply.text(reply_format(request) + "\n\n" + _in_words(kind, n))
        if kind == "hypothesis":
            return _wrap({"title": "width", "text": f"wider hidden layers ({n})", "rationale": "capacity"},
                         self._json_style())
        if kind == "lesson":
            return _wrap({"lesson": "Lesson: wider layers helped a little.", "evidence": []}, self._json_style())
        if kind == "repair":
            return _wrap({"diagnosis": "fixed the size", "code": MLP.format(h=40 + n)}, self._json_style())
        return self.proposal(n)

    def _json_style(self) -> str:
        return self.style if self.style in ("fenced_json", "tool_call", "no_usage") else "json"

    def proposal(self, n: int) -> Reply:
        if self.style == "same_answer":  # what small models do: the same architecture every time
            return Reply.json({"rationale": "a wider MLP", "code": MLP.format(h=64)})
        if self.style == "bare_code":
            return Reply.text(MLP.format(h=16 + 8 * n))
        if self.style == "truncated":  # the token limit cut the JSON mid-string
            whole = json.dumps({"rationale": "wider", "code": MLP.format(h=16 + 8 * n)})
            return Reply.text(whole[: len(whole) // 2], finish_reason="length")
        if self.style == "schema_echo":
            return Reply.text(SCHEMA_ECHO)
        return _wrap({"rationale": f"hidden width {16 + 8 * n}", "code": MLP.format(h=16 + 8 * n)}, self.style)


def behaviour(style: str, omit_usage: bool = False) -> Callable[[RecordedRequest], Reply]:
    return Behaviour(style, omit_usage)
