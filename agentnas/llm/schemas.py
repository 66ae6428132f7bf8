"""What the agents must answer, as pydantic schemas; the same schema goes into the prompt.

Extra keys are ignored and ids may come back as numbers: models are loose about both, and
neither changes the meaning. A `code` field must hold a whole candidate file defining
`build_model`; a model that wraps it in a ``` fence inside the JSON string is forgiven.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

_FENCE = re.compile(r"^\s*```[\w+-]*[ \t]*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


def strip_fence(code: str) -> str:
    m = _FENCE.match(code)
    return m.group("body") if m else code


def _code(v: Any) -> Any:
    if not isinstance(v, str):
        return v
    code = strip_fence(v).strip("\n")
    if "def build_model" not in code:
        raise ValueError("code must be a whole Python file that defines "
                         "build_model(input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module")
    return code + "\n"


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def drop_echo(prose: str, instructions: str) -> str:
    """`prose` without the sentences of `instructions` it repeats word for word.

    Small models often start a reply by copying the prompt's reply-format paragraph ("On the first
    line, a short title for the idea…") before, or instead of, their answer; taken as the answer,
    the copy became a hypothesis's title. Only sentences of two words or more count, compared
    case-insensitively with any whitespace, so a reply that merely uses a word of the instructions
    keeps it."""
    for sentence in _SENTENCE_END.split(instructions.strip()):
        words = sentence.split()
        if len(words) < 2:
            continue
        pattern = r"\s+".join(re.escape(w) for w in words)
        prose = re.sub(pattern, "", prose, flags=re.IGNORECASE)
    return re.sub(r"\n\s*\n+", "\n\n", prose).strip()


def without_labels(prose: str) -> str:
    """`prose` without markdown section labels ("## Title:", "### Description:", "**Changes:**"); an
    "Evidence:" label stays, since it marks the ids a lesson cites."""
    lines = [_SECTION_LABEL.sub("", ln).strip() for ln in _INLINE_LABEL.sub(r"\n\1", prose).splitlines()
             if not _BARE_LABEL.match(ln)]
    return "\n".join(ln for ln in lines if ln)


def _id(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


_CODE_BLOCK = re.compile(r"```(?:python|py|python3)?[ \t]*\n(?P<body>.*?)\n```", re.DOTALL)


def code_answer_end(text: str) -> int | None:
    """The end of the first fenced Python block that defines build_model: the reply's answer is complete
    there ("the whole file in one python block, and nothing after the block")."""
    for m in _CODE_BLOCK.finditer(text):
        if "def build_model" in m.group("body"):
            return m.end()
    return None


# A heading that names one of the prompt's own sections (prompts/*.txt, agentnas.llm.prompts.SECTIONS): a
# small model that writes one has stopped answering and is continuing the prompt (a 1.5B one went on with
# "## Sibling [n002] ..." entries until its token limit, and began a hypothesis with such a heading).
_PROMPT_SECTION = re.compile(
    r"^[ \t]*#{1,6}[ \t]*(?:siblings?\b|hypothesis to test|parent\b|parents?\s+\d|your job|reply format|task:"
    r"|candidate\b|similar past|design knowledge|notes from the user|constraints|what a candidate is|failure\b"
    r"|repairs already tried|your last answer)[^\n]*$", re.IGNORECASE | re.MULTILINE)


def prose_answer_end(text: str) -> int | None:
    """Where a reply in words ends: before the first prompt-section heading that follows some answer (a
    heading at the very start, before any answer, is skipped: see `without_prompt_headings`)."""
    for m in _PROMPT_SECTION.finditer(text):
        if len(_PROMPT_SECTION.sub("", text[: m.start()]).strip()) >= 20:
            return m.start()
    return None


def without_prompt_headings(prose: str) -> str:
    """`prose` without lines that are headings of the prompt's own sections."""
    return _PROMPT_SECTION.sub("", prose).strip()


class AgentReply(BaseModel):
    """Base of the reply schemas. `from_fallback` builds a reply from prose and a fenced code block when
    the model wrote no JSON at all; None (the default) means this schema cannot be recovered that way."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    # How the model is asked to answer by default ([llm] reply_format = "json" asks every reply as JSON).
    # "json": one object shaped like `example()`, with the server's structured output where it has one.
    # "markdown": `instructions` in words (a few sentences, a python block for code). Measured with a
    # 1.5B local model: in JSON it copied the example's content (a whole example model, a code sketch,
    # an example lesson) instead of writing its own; asked in words, it edited the parent.
    reply_style: ClassVar[Literal["json", "markdown"]] = "json"
    instructions: ClassVar[str] = ""

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return None

    @classmethod
    def answer_end(cls, text: str) -> int | None:
        """Where the answer in `text` is complete, for replies a client may stop reading there; None
        while it is not (or for a schema whose replies are read to the end)."""
        return None

    @classmethod
    def example(cls) -> dict[str, Any]:
        """The reply's shape for the JSON style, each value saying what goes there (a schema gets copied,
        and so does example content)."""
        return {}


_LABEL = re.compile(r"^\s*(?:#+\s*|\*\*|__)?\s*(?:title|hypothesis|idea|(?:on )?(?:the )?first line)?\s*[:\-]?\s*",
                    re.IGNORECASE)
# markdown section labels ("## Title:", "### Description:", "**Expected result:**"): the model's layout,
# not the idea; a label written mid-line starts a new line first
_INLINE_LABEL = re.compile(r"\s+(#{1,6}\s*[\w ]{1,40}:)")
# a heading line that is only a generic section name ("### Description", "## New Python File"), or a copy of
# the reply format's own words as a heading ("## Two or three sentences", "## A short title")
_BARE_LABEL = re.compile(
    r"^\s*(?:#{1,6}|\*\*)\s*(?:description|changes?(?: made)?|explanation|why|rationale|reasoning|summary"
    r"|expected(?: validation)? results?|(?:the )?(?:new |corrected )?(?:python )?(?:file|code)|diagnosis|lesson"
    r"|(?:one|two|three)(?: or | to )(?:two|three) sentences|(?:a )?short title(?: for the idea)?|title"
    r"|(?:a |the |new )?(?:hypothesis|idea)|(?:expected )?validation(?: results?| accuracy)?|what to build)"
    r"\s*:?\s*(?:\*\*)?\s*$", re.IGNORECASE)
_SECTION_LABEL = re.compile(r"^\s*(?:#{1,6}\s*|\*\*)(?!evidence\b)[\w ]{0,40}:(?:\*\*)?\s*", re.IGNORECASE)
_EVIDENCE = re.compile(r"^\W*evidence\W*:?\s*(?P<ids>.*)$", re.IGNORECASE | re.MULTILINE)
_CITED = re.compile(r"\[([A-Za-z0-9][\w.:/-]*)\]")


class HypothesisReply(AgentReply):
    """A researcher's idea to test, before any code."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"
    instructions: ClassVar[str] = (
        "On the first line, a short title for the idea (a few words). Then two or three sentences: what to build "
        "and the validation result you expect, citing ids shown above in square brackets. No code.")

    title: str = Field(min_length=1, max_length=200, description="A short name for the idea.")
    text: str = Field(min_length=1, description="The hypothesis: what to change and what result you expect.")
    rationale: str = Field(default="", description="Why you expect it, citing evidence ids like [K3] or [X12].")

    @classmethod
    def answer_end(cls, text: str) -> int | None:
        return prose_answer_end(text)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        lines = [ln.strip() for ln in without_prompt_headings(prose).splitlines() if ln.strip()]
        if not lines:
            return None
        title = _LABEL.sub("", lines[0]).strip("*_# :").strip()
        text = " ".join(lines[1:]).strip() or lines[0]
        return cls(title=(title or text)[:200], text=text)

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"title": "<a few words naming the idea>",
                "text": "<what to build, and the validation result you expect>",
                "rationale": "<why, citing ids like [K3]>"}


class ProposalReply(AgentReply):
    """A candidate: the full model file, and why it should help."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"
    instructions: ClassVar[str] = (
        "Write one to three sentences: what you changed and why, citing ids in square brackets. Then the whole "
        "new Python file in one ```python block (every import, class and function it needs, ending with "
        "build_model), and nothing after the block.")

    hypothesis_id: str | None = Field(default=None, description="The id of the hypothesis this tests, if given.")
    rationale: str = Field(default="", description="What you changed and why, in a few sentences.")
    code: str = Field(description="The whole Python file, defining build_model(input_shape, num_classes).")

    _hid = field_validator("hypothesis_id", mode="before")(_id)
    _code = field_validator("code", mode="before")(_code)

    @classmethod
    def answer_end(cls, text: str) -> int | None:
        return code_answer_end(text)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return cls(rationale=prose, code=code) if code else None

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"rationale": "<what you changed and why, citing ids like [K3]>",
                "code": "<the whole new Python file, as one JSON string>"}


class RepairReply(AgentReply):
    """The engineer's fix of a failed candidate."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"
    instructions: ClassVar[str] = (
        "Write one or two sentences: what went wrong and what you changed. Then the whole corrected Python file "
        "in one ```python block, and nothing after the block.")

    diagnosis: str = Field(min_length=1, description="What went wrong, in one or two sentences.")
    code: str = Field(description="The whole corrected Python file, defining build_model(input_shape, num_classes).")

    _code = field_validator("code", mode="before")(_code)

    @classmethod
    def answer_end(cls, text: str) -> int | None:
        return code_answer_end(text)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return cls(diagnosis=prose or "(no diagnosis given)", code=code) if code else None

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"diagnosis": "<what went wrong and what you changed>",
                "code": "<the whole corrected Python file, as one JSON string>"}


class LessonReply(AgentReply):
    """The analyst's lesson from one result, with the ids of the evidence it rests on."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"
    instructions: ClassVar[str] = (
        "Two or three sentences: the lesson. Then one last line starting with 'Evidence:' and the ids it rests on, "
        "e.g. Evidence: i00003-c1, K3")

    lesson: str = Field(min_length=1, description="What this result teaches for the next designs.")
    evidence: list[str] = Field(default_factory=list,
                                description="Ids of the experiments and knowledge items the lesson rests on.")

    @field_validator("evidence", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        return [_id(x) for x in v] if isinstance(v, list) else v

    @classmethod
    def answer_end(cls, text: str) -> int | None:
        return prose_answer_end(text)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        prose = without_prompt_headings(prose)
        found = _EVIDENCE.search(prose)
        lesson = (prose[: found.start()] if found else prose).strip()
        ids = _CITED.findall(prose)
        if found:
            ids += [x.strip(" []`.") for x in re.split(r"[,;\s]+", found.group("ids")) if x.strip(" []`.")]
        return cls(lesson=lesson, evidence=list(dict.fromkeys(ids))) if lesson else None

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"lesson": "<what this result teaches for the next designs>", "evidence": ["<an id>", "<an id>"]}

    def unknown_evidence(self, known_ids: set[str]) -> list[str]:
        """Cited ids that were not in the prompt (a hallucinated citation)."""
        return [e for e in self.evidence if e not in known_ids]


SCHEMAS: dict[str, type[AgentReply]] = {
    s.__name__: s for s in (HypothesisReply, ProposalReply, RepairReply, LessonReply)}
