"""Free chat text -> steering actions, by an LLM (`agentnas chat` with an endpoint).

The model sees the run's state (hypotheses and architectures with their ids, the best
results, the constraints in force) and the user's words, and replies with a
`SteeringReply`: zero or more typed actions plus one sentence for the user. Everything it
asks for is checked here before anything is sent: a focus or prune target must be an id
of this run, a constraint must constrain something. An action that fails the checks is
shown to the user as an error and never reaches the run.

Questions (`ask`) are answered from the run's records and the experiment memory (the same
retrieval as `/ask`), then the model writes the answer citing those ids; an answer that
cites none of them is not trusted, and the records are shown as they are.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from agentnas.journal.tree import RunTree
from agentnas.paths import shipped_dir
from agentnas.records import ChatMessage, SteeringMessage

ActionKind = Literal["hypothesis", "constrain", "focus", "unfocus", "prune", "ask", "status", "stop"]
TEMPLATE = "_steering.txt"
EXAMPLES = "_steering_examples.json"


class SteeringAction(BaseModel):
    """One thing the user asked for, in the terms the run understands. Lenient where models
    differ harmlessly (extra keys are ignored, one op may come as a bare string)."""

    model_config = ConfigDict(extra="ignore")

    kind: ActionKind
    text: str = Field(default="", description="hypothesis: the design idea in words; ask: the question")
    target: str | None = Field(default=None, description="focus / prune: a hypothesis id (h001) or node id")
    max_params: int | None = Field(default=None, gt=0)
    max_train_seconds: float | None = Field(default=None, gt=0, description="wall-clock limit per training")
    max_latency_ms: float | None = Field(default=None, gt=0, description="batch-1 inference latency limit, ms")
    max_macs: int | None = Field(default=None, gt=0, description="multiply-add limit per input")
    max_size_mb: float | None = Field(default=None, gt=0, description="exported model size limit, MB")
    banned_ops: list[str] = Field(default=[], description="operations no candidate may use, e.g. lstm, attention")
    required_ops: list[str] = Field(default=[], description="operations every candidate must use, e.g. conv")

    @field_validator("banned_ops", "required_ops", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        if isinstance(v, str):
            return [p.strip() for p in v.split(",") if p.strip()]
        return [] if v is None else v

    @model_validator(mode="after")
    def _complete(self) -> SteeringAction:
        if self.kind in ("hypothesis", "ask") and not self.text.strip():
            raise ValueError(f"a {self.kind} action needs its text")
        if self.kind in ("focus", "prune") and not (self.target or "").strip():
            raise ValueError(f"a {self.kind} action needs a target id")
        limits = (self.max_params, self.max_train_seconds, self.max_latency_ms, self.max_macs, self.max_size_mb)
        if self.kind == "constrain" and all(v is None for v in limits) and not self.banned_ops \
                and not self.required_ops:
            raise ValueError("a constrain action needs max_params, max_train_seconds, max_latency_ms, max_macs, "
                             "max_size_mb, banned_ops or required_ops")
        return self


class SteeringReply(BaseModel):
    """The interpretation of one chat message. An action the checks refuse is set aside in
    `rejected` (why, in words) and the others stand: one bad field must not drop a whole
    message. Only a reply with actions that are all unusable is invalid (and so repaired)."""

    model_config = ConfigDict(extra="ignore")

    actions: list[SteeringAction] = Field(max_length=6)  # required: any JSON object must not pass as a reply
    reply: str = Field(default="", description="one short sentence to the user: what you understood")
    rejected: SkipJsonSchema[list[str]] = Field(default=[], exclude=True)  # ours, never the model's

    @model_validator(mode="before")
    @classmethod
    def _set_aside_bad_actions(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k != "rejected"}
        actions = data.get("actions")
        if not isinstance(actions, list):
            return data
        good, bad = [], []
        for item in actions:
            try:
                good.append(SteeringAction.model_validate(item))
            except ValidationError as e:
                kind = item.get("kind") if isinstance(item, dict) else None
                problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'action'}: {err['msg']}"
                                     for err in e.errors(include_url=False))
                bad.append(f"not sent: the {kind or 'unnamed'} action ({problems})")
        if bad and good:
            return {**data, "actions": good, "rejected": bad}
        return data

    # The format in words: the worked examples before the message show the shape (prompts/_steering_examples.json);
    # a single example object, or the schema, gets copied by small models instead of being filled.
    instructions: ClassVar[str] = ('Reply with exactly one JSON object shaped like the answers above, '
                                   '{"actions": [...], "reply": "..."}, for the message above, and nothing else.')


class Interpretation(BaseModel):
    """What the REPL does with a message: actions to carry out, the model's words, refusals."""

    actions: list[tuple[str, Any]] = []
    reply: str = ""
    errors: list[str] = []


def run_state(tree: RunTree | None, limit: int = 40) -> str:
    """The run as the interpreter sees it: ids first, so it can name them."""
    if tree is None:
        return "The run has not written anything yet (no hypotheses, no results)."
    lines = [f"Iteration {tree.iterations}, {len(tree.experiments)} evaluations."]
    # the task metric's score, named unless it is the accuracy (classification prompts as they were)
    name = "" if tree.metric.name == "accuracy" else f" {tree.metric.name}"
    for h in list(tree.hypotheses.values())[-limit:]:
        trained = [tree.nodes[i] for i in h.nodes if tree.nodes[i].val_score is not None]
        best = tree.metric.best([n.val_score for n in trained if n.val_score is not None])
        lines.append(f"- hypothesis {h.id} ({h.source}): {h.text[:160]}"
                     + (f" — best val{name} {best:.4f} over {len(trained)} trained" if best is not None else ""))
    top = tree.ranked()[:8]
    lines += [f"- architecture {n.id} under {n.hypothesis_id}: val{name} {n.val_score or 0.0:.4f}, "
              f"{n.params or 0:,} "
              f"params — {n.description[:100]}" for n in top]
    s = tree.steering
    lines.append(f"Constraints in force: {'; '.join(x for x in s.notes if x.startswith('constraint')) or 'none'}; "
                 f"focus {s.focus or 'none'}; pruned {', '.join(sorted(s.pruned)) or 'none'}.")
    return "\n".join(lines)


def render(template: str, **values: str) -> str:
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"the steering prompt needs {{{{{m.group(1)}}}}}")
        return values[m.group(1)]

    return re.sub(r"\{\{(\w+)\}\}", sub, template)


def steering_messages(text: str, tree: RunTree | None, directory: Path | None = None) -> list[ChatMessage]:
    """System prompt, worked examples as earlier turns (message -> JSON reply), then the message."""
    folder = directory or shipped_dir("prompts")
    raw = (folder / TEMPLATE).read_text(encoding="utf-8")
    system, _, user = raw.partition("=== user ===")
    system = system.split("=== system ===", 1)[-1]
    values = {"state": run_state(tree), "message": text.strip()}
    messages = [ChatMessage(role="system", content=render(system.strip(), **values))]
    examples = folder / EXAMPLES
    for ex in json.loads(examples.read_text(encoding="utf-8")) if examples.is_file() else []:
        messages += [ChatMessage(role="user", content=render(user.strip(), state=ex["state"], message=ex["message"])),
                     ChatMessage(role="assistant", content=json.dumps(ex["reply"]))]
    return [*messages, ChatMessage(role="user", content=render(user.strip(), **values))]


def known_ids(tree: RunTree | None) -> set[str]:
    return set() if tree is None else set(tree.hypotheses) | set(tree.nodes)


def unknown_target(tree: RunTree | None, kind: str, target: str, shown: int = 12) -> str | None:
    """Why a focus or prune `target` cannot be sent (with the ids that can), None when it can."""
    if target in known_ids(tree):
        return None
    if tree is None or not (tree.hypotheses or tree.nodes):
        return f"not sent: {kind} {target!r}: the run has no hypotheses or architectures yet"

    def listed(ids: list[str]) -> str:
        more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
        return ", ".join(ids[:shown]) + more

    # the best trained architectures first: those are the ones worth focusing on or pruning
    nodes = sorted(tree.nodes.values(), key=lambda n: (n.val_score is None, tree.metric.sort_key(n.val_score), n.id))
    parts = [f"hypotheses {listed(sorted(tree.hypotheses))}" if tree.hypotheses else "",
             f"architectures {listed([n.id for n in nodes])}" if nodes else ""]
    return (f"not sent: {kind} {target!r} is not an id of this run; valid ids: "
            + "; ".join(p for p in parts if p))


def to_actions(reply: SteeringReply, tree: RunTree | None, said: str) -> Interpretation:
    """Checked actions as the REPL's (action, argument) pairs; refusals as errors."""
    out = Interpretation(reply=reply.reply.strip(), errors=list(reply.rejected))
    for a in reply.actions:
        if a.kind in ("focus", "prune"):
            target = (a.target or "").strip()
            problem = unknown_target(tree, a.kind, target)
            if problem:
                out.errors.append(problem)
                continue
            out.actions.append(("send", SteeringMessage(kind=a.kind, target=target, said=said)))
        elif a.kind == "hypothesis":
            out.actions.append(("send", SteeringMessage(kind="hypothesis", text=a.text.strip(), said=said)))
        elif a.kind == "constrain":
            out.actions.append(("send", SteeringMessage(
                kind="constrain", max_params=a.max_params, max_train_seconds=a.max_train_seconds,
                max_latency_ms=a.max_latency_ms, max_macs=a.max_macs, max_size_mb=a.max_size_mb,
                banned_ops=tuple(o.strip() for o in a.banned_ops if o.strip()),
                required_ops=tuple(o.strip() for o in a.required_ops if o.strip()), said=said)))
        elif a.kind in ("unfocus", "stop"):
            out.actions.append(("send", SteeringMessage(kind=a.kind, said=said)))
        elif a.kind == "ask":
            out.actions.append(("ask", a.text.strip()))
        else:
            out.actions.append(("status", None))
    return out


class Interpreter:
    """Free text -> checked steering actions, with an `LLMClient` (role: researcher)."""

    def __init__(self, client: Any, prompts_dir: Path | None = None) -> None:
        self.client, self.prompts_dir = client, prompts_dir

    def interpret(self, text: str, tree: RunTree | None) -> Interpretation:
        """Raises the LLM layer's errors (unreachable endpoint, unusable reply, spending cap)."""
        structured = self.client.complete_structured("researcher", steering_messages(text, tree, self.prompts_dir),
                                                     SteeringReply, repairs=1, temperature=0.0)
        return to_actions(structured.value, tree, text.strip())

    def answer(self, question: str, evidence: list[str]) -> list[str]:
        """The model's answer from `evidence` (lines starting with `[id]`), ids cited; the
        evidence itself when the answer cites none of them."""
        ids = {m.group(1) for line in evidence if (m := re.match(r"\[([^\]]+)\]", line))}
        if not ids:
            return evidence
        messages = [ChatMessage(role="system", content=(
                        "You answer questions about a neural architecture search run from its records only. "
                        "Cite the id of every record you use in square brackets, e.g. [i00004-c1]. If the records "
                        "do not answer the question, say so. At most five sentences.")),
                    ChatMessage(role="user", content="Records:\n" + "\n".join(evidence) + f"\n\nQuestion: {question}")]
        reply = self.client.complete("researcher", messages, temperature=0.0)
        text = reply.content.strip()
        cited = set(re.findall(r"\[([^\]]+)\]", text)) & ids
        if not cited:
            return ["(the model's answer cited none of the records, so here they are)", *evidence]
        return [text, "sources:", *(line for line in evidence if any(line.startswith(f"[{i}]") for i in cited))]
