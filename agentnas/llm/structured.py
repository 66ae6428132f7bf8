"""Structured replies: the schema goes into the prompt, the reply is parsed tolerantly, and what
cannot be used becomes an `InvalidReply` with a kind and a message the model can act on.

Parsing order: the whole reply as JSON; fenced ```json blocks; a JSON object embedded in prose;
then, for schemas that allow it (`AgentReply.from_fallback`), the fenced ```python block with
the prose around it. JSON strings with raw newlines (models write code that way) are accepted.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agentnas.llm.errors import InvalidReply, InvalidReplyKind
from agentnas.llm.schemas import AgentReply, drop_echo, without_labels
from agentnas.records import ChatMessage, LLMResponse

T = TypeVar("T", bound=BaseModel)

_DECODER = json.JSONDecoder(strict=False)
_FENCED = re.compile(r"```(?P<lang>[\w+-]*)[ \t]*\n(?P<body>.*?)```", re.DOTALL)
_MAX_EMBEDDED_STARTS = 64  # '{' positions tried in prose: enough for any real reply, bounded for huge ones


@dataclass(frozen=True)
class Parsed(Generic[T]):
    """A validated reply and how it was found (json, fenced_json, embedded_json, fenced_code)."""

    value: T
    via: str


def _example(schema: type[BaseModel]) -> dict[str, object]:
    make = getattr(schema, "example", None)
    found = make() if callable(make) else None
    return found if isinstance(found, dict) else {}


def reply_style(schema: type[BaseModel], forced: str | None = None) -> str:
    """"json" or "markdown": the schema's own style, unless the configuration forces "json"."""
    return "json" if forced == "json" else str(getattr(schema, "reply_style", "json"))


@cache  # a schema class never changes
def schema_instructions(schema: type[BaseModel], style: str | None = None) -> str:
    """The reply-format paragraph appended to the prompt (deterministic for a schema): the format in
    words, or the JSON object's shape with each value saying what goes there (never the schema:
    small models copy a schema instead of filling it)."""
    style = style or reply_style(schema)
    instructions = str(getattr(schema, "instructions", "") or "")
    if style == "markdown" and instructions:
        return "## Reply format\n" + instructions
    example = _example(schema)
    if not example:
        if instructions:
            return "## Reply format\n" + instructions
        js = json.dumps(schema.model_json_schema(), sort_keys=True, indent=1)
        return ("## Reply format\n"
                f"Reply with exactly one JSON object (a {schema.__name__}) and nothing else, matching this JSON "
                f"Schema:\n```json\n{js}\n```")
    return ("## Reply format\n"
            "Reply with exactly one JSON object and nothing else, with these keys (replace each <...> with your "
            f"own content):\n```json\n{json.dumps(example, indent=1)}\n```")


@cache
def response_schema(schema: type[BaseModel]) -> dict[str, object]:
    """The JSON schema a server's structured output should enforce: the reply's own fields, in order,
    each required, no others (what grammar-constrained decoding handles best)."""
    full = schema.model_json_schema()
    props = full.get("properties", {})
    keep = list(_example(schema)) or list(props)
    properties = {}
    for name in keep:
        p = dict(props[name])
        p.pop("default", None)
        p.pop("title", None)
        if "anyOf" in p:  # Optional[...]: the non-null branch
            p = next((b for b in p["anyOf"] if b.get("type") != "null"), p)
        properties[name] = p
    out: dict[str, object] = {"type": "object", "properties": properties, "required": keep,
                              "additionalProperties": False}
    if "$defs" in full:  # nested records (e.g. a list of actions) are referenced from there
        out["$defs"] = full["$defs"]
    return out


def response_formats(schema: type[BaseModel], style: str | None = None) -> tuple[dict[str, object], ...]:
    """`response_format` values to try, best first: OpenAI's json_schema (OpenAI, vLLM, llama.cpp's
    server), then json_object with a schema (llama-cpp-python, Anyscale-style servers). None for a
    reply asked for in words."""
    if (style or reply_style(schema)) != "json":
        return ()
    js = response_schema(schema)
    return ({"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": js, "strict": True}},
            {"type": "json_object", "schema": js})


def with_schema(messages: Sequence[ChatMessage], schema: type[BaseModel],
                style: str | None = None) -> list[ChatMessage]:
    """`messages` with the reply format appended to the last user message (or added as one): every chat
    template accepts that, unlike a second system message."""
    out = list(messages)
    instructions = schema_instructions(schema, style)
    for i in range(len(out) - 1, -1, -1):
        if out[i].role == "user":
            out[i] = ChatMessage(role="user", content=f"{out[i].content.rstrip()}\n\n{instructions}")
            return out
    out.append(ChatMessage(role="user", content=instructions))
    return out


COPIED = 0.6  # a reply whose lines are at least this share copies of the prompt's lines repeated the prompt


def copied_share(reply: str, messages: Sequence[ChatMessage]) -> float:
    """The share of the reply's substantial lines (20 characters or more) that are lines of the prompt."""
    prompt = {ln.strip() for m in messages for ln in m.content.splitlines()}
    lines = [ln.strip() for ln in reply.splitlines() if len(ln.strip()) >= 20]
    return sum(ln in prompt for ln in lines) / len(lines) if lines else 0.0


def repair_messages(messages: Sequence[ChatMessage], raw: str, failure: InvalidReply,
                    schema: type[BaseModel] | None = None, style: str | None = None) -> list[ChatMessage]:
    """The conversation that asks the model to fix its own unusable reply. A reply with nothing usable in
    it (no code, no JSON, only the prompt's words) is not shown back, only said what it lacked: shown its
    reply, a 1.5B model wrote the same text again, word for word, even at temperature 1.0."""
    if schema is not None and (style or reply_style(schema)) == "markdown":
        again = f"Reply again in the format asked: {getattr(schema, 'instructions', '')}"
    else:
        again = f"Reply again with only the corrected JSON object ({failure.schema}), nothing else."
    problem = f"Your reply could not be used ({failure.kind}): {failure.detail}"
    # a reply with something in it (a JSON object that did not validate) is shown back, to be fixed
    if failure.kind in (InvalidReplyKind.NO_CODE, InvalidReplyKind.NO_JSON, InvalidReplyKind.ECHO):
        # (a draft that edits the parent repeats the prompt's code lines by design: not a copy)
        if copied_share(raw, messages) >= COPIED:
            raw = "(a copy of parts of the prompt)"
            problem = f"Your reply repeated the prompt instead of answering it ({failure.kind})."
        else:
            raw = f"(a reply without what was asked: {failure.kind})"
    return [*messages, ChatMessage(role="assistant", content=raw),
            ChatMessage(role="user", content=f"{problem}\n{again}")]


def _json_candidates(text: str) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    stripped = text.strip()
    with contextlib.suppress(ValueError):
        found.append(("json", _DECODER.decode(stripped)))
    for m in _FENCED.finditer(text):
        if m.group("lang").lower() in ("json", "") and m.group("body").lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                found.append(("fenced_json", _DECODER.decode(m.group("body").strip())))
    starts = [i for i, ch in enumerate(text) if ch == "{"][:_MAX_EMBEDDED_STARTS]
    for i in starts:
        try:
            obj, _ = _DECODER.raw_decode(text, i)
        except ValueError:
            continue
        found.append(("embedded_json", obj))
    return [(via, obj) for via, obj in found if isinstance(obj, dict)]


_OPEN_FENCE = re.compile(r"```(?:python|py|python3)[ \t]*\n")
_CODE_START = re.compile(r"^(?:from \S+ import |import \S+|class \w+|def \w+)", re.MULTILINE)


def _fenced_code(text: str) -> tuple[str, str | None]:
    """The first fenced block that is Python (by tag, or by defining build_model) and the prose around it,
    a block that defines build_model first (a model may show a helper class in a block of its own before
    the file); else bare code: from the first import/def/class line on, when that parses as Python."""
    blocks = [m for m in _FENCED.finditer(text)
              if m.group("lang").lower() in ("python", "py", "python3")
              or (m.group("lang") == "" and "def build_model" in m.group("body"))]
    if blocks:
        m = min(blocks, key=lambda b: "def build_model" not in b.group("body"))  # the first of the best kind
        return (text[: m.start()] + text[m.end():]).strip(), m.group("body")
    # code without a closing fence (forgotten), or bare code from its first import/def/class line on
    opened = _OPEN_FENCE.search(text)
    start: int | None = None
    if opened is not None and "```" not in text[opened.end():]:
        start, prose_end = opened.end(), opened.start()
    elif "def build_model" in text and "```" not in text and (line := _CODE_START.search(text)) is not None:
        start, prose_end = line.start(), line.start()
    if start is not None and _parses(text[start:]):
        return text[:prose_end].strip(), text[start:]
    return text.strip(), None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _errors(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(object)'}: {err['msg']}" for err in e.errors())


def parse_reply(text: str, schema: type[T], *, finish_reason: str | None = None) -> Parsed[T]:
    """Validate `text` against `schema`, tolerantly; raise `InvalidReply` when nothing fits."""
    name = schema.__name__
    if not text.strip():
        raise InvalidReply(InvalidReplyKind.EMPTY, "the reply was empty", schema=name, raw=text)
    first_error: str | None = None
    for via, obj in _json_candidates(text):
        try:
            return Parsed(schema.model_validate(obj), via)
        except ValidationError as e:
            first_error = first_error or _errors(e)
    if issubclass(schema, AgentReply) and not (first_error is not None and "```python" not in text
                                               and "def build_model" not in text):
        # a reply in words (or words and code); not a JSON object that failed validation, which is no prose.
        # What a model wrote past its answer (more files, the prompt's sections) is not part of it.
        end = schema.answer_end(text)
        prose, code = _fenced_code(text[:end] if end is not None else text)
        own = drop_echo(prose, schema.instructions)
        if prose and not own and code is None:
            raise InvalidReply(InvalidReplyKind.ECHO, "the reply only repeated the reply-format instructions; "
                               "follow them instead: " + schema.instructions, schema=name, raw=text)
        try:
            value = schema.from_fallback(without_labels(own), code)
        except ValidationError as e:
            value, first_error = None, first_error or _errors(e)
        if value is not None:
            return Parsed(value, "fenced_code")
    if finish_reason == "length":
        raise InvalidReply(InvalidReplyKind.TRUNCATED, "the reply hit the token limit before it was complete; "
                           "answer more briefly", schema=name, raw=text)
    if first_error is not None:
        raise InvalidReply(InvalidReplyKind.SCHEMA, f"the JSON object does not match the schema: {first_error}",
                           schema=name, raw=text)
    if reply_style(schema) == "markdown" and "code" in schema.model_fields:  # the message the model is shown
        raise InvalidReply(InvalidReplyKind.NO_CODE, "the reply held no ```python block with the whole model file "
                           "(a file that defines build_model)", schema=name, raw=text)
    raise InvalidReply(InvalidReplyKind.NO_JSON, "the reply held no JSON object", schema=name, raw=text)


def parse_response(response: LLMResponse, schema: type[T]) -> Parsed[T]:
    return parse_reply(response.content, schema, finish_reason=response.finish_reason)
