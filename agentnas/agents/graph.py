"""One expansion of a search node as a langgraph `StateGraph`.

    propose -> check -> (repair -> check)* -> score -> gate -> [approve] -> train -> analyse -> record

Nodes return partial updates of `ExpansionState`; routing is pure functions of the state.
Compiled with a checkpointer (SqliteSaver in the run directory), a thread per expansion:
a killed expansion resumes at the node that was running (`invoke(None, config)`), and the
trainer is idempotent per candidate id, so nothing is evaluated twice.

Approval mode adds `approve`, which pauses with langgraph's `interrupt` before real
training and continues with `Command(resume={id: "yes" | "no" | {"code": ...}})`; an
edited candidate goes back through the check.
"""

from __future__ import annotations

import hashlib
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agentnas.agents.services import Services
from agentnas.agents.state import Candidate, Context, ExpansionState, candidates_of, dump


def _ctx(state: ExpansionState) -> Context:
    return Context.model_validate(state["context"])


def candidate_id(iteration: int, index: int) -> str:
    return f"i{iteration:05d}-c{index}"


def _replace(candidates: list[Candidate], updated: list[Candidate]) -> list[Candidate]:
    by_id = {c.id: c for c in updated}
    return [by_id.get(c.id, c) for c in candidates]


# -- routing: pure functions of the state ---------------------------------------------

def route_after_check(state: ExpansionState, services: Services) -> str:
    if services.engineer is None:
        return "score"
    repairable = any(c.status == "failed" and c.attempts < services.max_repairs for c in candidates_of(state))
    return "repair" if repairable else "score"


def route_after_gate(state: ExpansionState, services: Services) -> str:
    if not state.get("grants"):
        return "analyse"
    return "approve" if services.approval else "train"


def route_after_approve(state: ExpansionState) -> str:
    if any(c.status == "drafted" for c in candidates_of(state)):
        return "check"
    return "train" if state.get("approved") else "analyse"


# -- nodes --------------------------------------------------------------------------

def build_expansion_graph(services: Services, checkpointer: Any | None = None) -> Any:
    """The compiled graph. Input: `{"context": Context.model_dump()}`."""

    def propose(state: ExpansionState) -> dict[str, Any]:
        ctx = _ctx(state)
        drafts = services.researcher.propose(ctx)[: ctx.k]
        made = [Candidate(id=candidate_id(ctx.iteration, i), code=d.code, operator=d.operator,
                          description=d.description, rationale=d.rationale, arch=d.arch)
                for i, d in enumerate(drafts)]
        return {"candidates": dump(made), "repair_round": 0, "grants": [], "approved": []}

    def check(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        todo = [c for c in cands if c.status == "drafted"]
        return {"candidates": dump(_replace(cands, services.checker.check(ctx, todo) if todo else []))}

    def repair(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        assert services.engineer is not None
        fixed: list[Candidate] = []
        for c in cands:
            if c.status != "failed" or c.attempts >= services.max_repairs:
                continue
            draft = services.engineer.repair(ctx, c)
            failed = {"kind": c.failure_kind or "crash", "message": c.failure_message or "",
                      "code_hash": hashlib.sha256(c.code.encode("utf-8")).hexdigest()}
            if draft is None:  # given up: no further attempts
                fixed.append(c.model_copy(update={"attempts": services.max_repairs}))
            else:
                fixed.append(c.model_copy(update={
                    "code": draft.code, "operator": c.operator, "status": "drafted", "attempts": c.attempts + 1,
                    "rationale": draft.rationale or c.rationale, "arch": draft.arch,
                    "failure_kind": None, "failure_message": None, "history": [*c.history, failed]}))
        return {"candidates": dump(_replace(cands, fixed)), "repair_round": state.get("repair_round", 0) + 1}

    def score(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        todo = [c for c in cands if c.status == "checked"]
        return {"candidates": dump(_replace(cands, services.scorer.score(ctx, todo) if todo else []))}

    def gate(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        scored = [c for c in cands if c.status == "scored"]
        grants = [g for g in services.gate.grant(ctx, scored) if g in {c.id for c in scored}] if scored else []
        marked = [c.model_copy(update={"granted": c.id in grants}) for c in cands]
        return {"candidates": dump(marked), "grants": grants, "approved": list(grants)}

    def approve(state: ExpansionState) -> dict[str, Any]:
        cands = candidates_of(state)
        asked = [c for c in cands if c.id in state.get("grants", [])]
        answer = interrupt({"question": "train these candidates?",
                            "candidates": [{"id": c.id, "description": c.description, "params": c.params,
                                            "mean": c.mean, "std": c.std, "code": c.code} for c in asked]})
        answers: dict[str, Any] = answer if isinstance(answer, dict) else {}
        approved: list[str] = []
        updated: list[Candidate] = []
        for c in asked:
            reply = answers.get(c.id, "no")
            if isinstance(reply, dict) and isinstance(reply.get("code"), str):
                updated.append(c.model_copy(update={"code": reply["code"], "status": "drafted", "granted": False,
                                                    "operator": "edit"}))
            elif reply == "yes":
                approved.append(c.id)
            else:
                updated.append(c.model_copy(update={"granted": False}))
        return {"candidates": dump(_replace(cands, updated)), "approved": approved}

    def train(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        todo = [c for c in cands if c.id in state.get("approved", []) and c.status == "scored"]
        return {"candidates": dump(_replace(cands, services.trainer.train(ctx, todo) if todo else []))}

    def analyse(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        trained = [c for c in cands if c.status == "trained"]
        return {"candidates": dump(_replace(cands, services.analyst.analyse(ctx, trained) if trained else []))}

    def record(state: ExpansionState) -> dict[str, Any]:
        services.recorder.record(_ctx(state), candidates_of(state))
        return {"done": True}

    graph = StateGraph(ExpansionState)
    for name, fn in (("propose", propose), ("check", check), ("repair", repair), ("score", score),
                     ("gate", gate), ("approve", approve), ("train", train), ("analyse", analyse),
                     ("record", record)):
        graph.add_node(name, fn)
    graph.add_edge(START, "propose")
    graph.add_edge("propose", "check")
    graph.add_conditional_edges("check", lambda s: route_after_check(s, services), ["repair", "score"])
    graph.add_edge("repair", "check")
    graph.add_edge("score", "gate")
    graph.add_conditional_edges("gate", lambda s: route_after_gate(s, services), ["approve", "train", "analyse"])
    graph.add_conditional_edges("approve", route_after_approve, ["check", "train", "analyse"])
    graph.add_edge("train", "analyse")
    graph.add_edge("analyse", "record")
    graph.add_edge("record", END)
    return graph.compile(checkpointer=checkpointer)
