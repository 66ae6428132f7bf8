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


def _id(v: Any) -> Any:
    return str(v) if isinstance(v, int) and not isinstance(v, bool) else v


class AgentReply(BaseModel):
    """Base of the reply schemas. `from_fallback` builds a reply from prose and a fenced code block when
    the model wrote no JSON at all; None (the default) means this schema cannot be recovered that way."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    # How the model is asked to answer. "json": one object, like `example()`, with the server's
    # structured output where it has one. "markdown": a few sentences, then the whole file in one
    # python block — measured with a 1.5B local model, a JSON reply carrying code copied the
    # example's code (a full model, or a sketch) instead of editing the parent; prose + a python
    # block is the shape coder models answer in on their own.
    reply_style: ClassVar[Literal["json", "markdown"]] = "json"
    instructions: ClassVar[str] = ""  # the reply format in words, for the markdown style

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return None

    @classmethod
    def example(cls) -> dict[str, Any]:
        """A filled reply, shown to the model instead of the schema (small models copy a schema)."""
        return {}


class Hypothesis(AgentReply):
    """A researcher's idea to test, before any code."""

    title: str = Field(min_length=1, max_length=200, description="A short name for the idea.")
    text: str = Field(min_length=1, description="The hypothesis: what to change and what result you expect.")
    rationale: str = Field(default="", description="Why you expect it, citing evidence ids like [K3] or [X12].")

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"title": "Dilated convolutions",
                "text": "Replacing strided convolutions by dilated ones keeps the resolution and widens the "
                        "receptive field; expect +1 to +2 points of validation accuracy at equal parameters.",
                "rationale": "Shifted signals reward a wide receptive field [K3]."}


class Proposal(AgentReply):
    """A candidate: the full model file, and why it should help."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"

    hypothesis_id: str | None = Field(default=None, description="The id of the hypothesis this tests, if given.")
    rationale: str = Field(default="", description="What you changed and why, in a few sentences.")
    code: str = Field(description="The whole Python file, defining build_model(input_shape, num_classes).")

    _hid = field_validator("hypothesis_id", mode="before")(_id)
    _code = field_validator("code", mode="before")(_code)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return cls(rationale=prose, code=code) if code else None

    instructions: ClassVar[str] = (
        "Write one to three sentences: what you changed and why, citing ids in square brackets. Then the whole "
        "new Python file in one ```python block (every import, class and function it needs, ending with "
        "build_model), and nothing after the block.")


class Repair(AgentReply):
    """The engineer's fix of a failed candidate."""

    reply_style: ClassVar[Literal["json", "markdown"]] = "markdown"

    diagnosis: str = Field(min_length=1, description="What went wrong, in one or two sentences.")
    code: str = Field(description="The whole corrected Python file, defining build_model(input_shape, num_classes).")

    _code = field_validator("code", mode="before")(_code)

    @classmethod
    def from_fallback(cls, prose: str, code: str | None) -> Self | None:
        return cls(diagnosis=prose or "(no diagnosis given)", code=code) if code else None

    instructions: ClassVar[str] = (
        "Write one or two sentences: what went wrong and what you changed. Then the whole corrected Python file "
        "in one ```python block, and nothing after the block.")


class Lesson(AgentReply):
    """The analyst's lesson from one result, with the ids of the evidence it rests on."""

    lesson: str = Field(min_length=1, description="What this result teaches for the next designs.")
    evidence: list[str] = Field(default_factory=list,
                                description="Ids of the experiments and knowledge items the lesson rests on.")

    @field_validator("evidence", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        return [_id(x) for x in v] if isinstance(v, list) else v

    @classmethod
    def example(cls) -> dict[str, Any]:
        return {"lesson": "Dilation helped: +1.8 points over the parent at equal parameters, so the receptive "
                          "field limited it; try dilations in the later layers too.",
                "evidence": ["i00003-c1", "K3"]}

    def unknown_evidence(self, known_ids: set[str]) -> list[str]:
        """Cited ids that were not in the prompt (a hallucinated citation)."""
        return [e for e in self.evidence if e not in known_ids]


SCHEMAS: dict[str, type[AgentReply]] = {s.__name__: s for s in (Hypothesis, Proposal, Repair, Lesson)}
