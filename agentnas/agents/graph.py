"""One expansion of a search node as a langgraph `StateGraph`.

    propose -> check -> (repair -> check)* -> score -> (refill -> check ... -> score)*
            -> gate -> [approve] -> train -> analyse -> record

Each of the k children fills a slot. `check` first screens drafts by the normalised code
hash against the run's nodes and the earlier siblings (a duplicate never reaches the
sandbox), `score` screens by the ONNX graph hash the same way. A slot whose candidate ends
as a duplicate, or broken after the engineer's repairs, is refilled (a shape failure is first
mended mechanically in `repair`, layer input sizes inferred, which uses none of the engineer's
attempts): the researcher is asked
once more, naming what went wrong, then the offline grammar fills it (recorded as a fallback).

Nodes return partial updates of `ExpansionState`; routing is pure functions of the state.
Compiled with a checkpointer (SqliteSaver in the run directory), a thread per expansion:
a killed expansion resumes at the node that was running (`invoke(None, config)`), and the
trainer is idempotent per candidate id, so nothing is evaluated twice.

Approval mode adds `approve`, which pauses with langgraph's `interrupt` before real
training and continues with `Command(resume={id: "yes" | "no" | {"code": ...}})`; an
edited candidate goes back through the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from agentnas.agents.services import Services
from agentnas.agents.shape_mends import mend_shapes
from agentnas.agents.state import Candidate, Context, Draft, ExpansionState, candidates_of, dump
from agentnas.fingerprint import code_hash


def _ctx(state: ExpansionState) -> Context:
    return Context.model_validate(state["context"])


def candidate_id(iteration: int, index: int, refill: int = 0) -> str:
    return f"i{iteration:05d}-c{index}" + (f"-r{refill}" if refill else "")


def _replace(candidates: list[Candidate], updated: list[Candidate]) -> list[Candidate]:
    by_id = {c.id: c for c in updated}
    return [by_id.get(c.id, c) for c in candidates]


def repairable(c: Candidate, services: Services) -> bool:
    """A failed first proposal the engineer may still fix (re-asked and grammar drafts are not repaired)."""
    return (services.engineer is not None and c.status == "failed" and c.refill == 0
            and c.attempts < services.max_repairs and not c.closed)


def mendable(c: Candidate) -> bool:
    """A shape failure the trusted side mends without a call (agents.shape_mends)."""
    return (c.status == "failed" and c.failure_kind == "shape" and not c.closed
            and mend_shapes(c.code, c.failure_message or "")[1] is not None)


def open_slots(candidates: list[Candidate], services: Services) -> list[Candidate]:
    """The last candidate of each slot that ended as a duplicate or broken for good."""
    last: dict[int, Candidate] = {}
    for c in candidates:  # a slot's later candidates come later in the list
        last[c.slot] = c
    return [c for c in last.values() if not c.closed and c.refill < 2 and (
        c.status == "duplicate" or (c.status == "failed" and not repairable(c, services)))]


def screen(candidates: list[Candidate], known: Mapping[str, str]) -> list[Candidate]:
    """Drafts whose normalised code hash is a node of the run or an earlier sibling become duplicates."""
    seen = dict(known)
    out = []
    for c in candidates:
        h = code_hash(c.code)
        first = seen.get(h)
        if c.status == "drafted" and first is not None and first != c.id:
            c = c.model_copy(update={"status": "duplicate", "novelty": "duplicate", "nearest_id": first})
        seen.setdefault(h, c.id)
        out.append(c)
    return out


def screen_graphs(candidates: list[Candidate]) -> list[Candidate]:
    """Scored siblings whose ONNX graph equals an earlier sibling's become duplicates of it."""
    seen: dict[str, str] = {}
    out = []
    for c in candidates:
        if c.graph_hash:
            first = seen.setdefault(c.graph_hash, c.id)
            if c.status == "scored" and first != c.id:
                c = c.model_copy(update={"status": "duplicate", "novelty": "duplicate", "nearest_id": first})
        out.append(c)
    return out


def why_refill(c: Candidate) -> str:
    if c.status == "duplicate":
        return f"it repeated {c.nearest_id}, an architecture the run already has"
    return f"it failed the sandbox check ({c.failure_kind}): {(c.failure_message or '').strip()[:300]}"


# -- routing: pure functions of the state ---------------------------------------------

def route_after_check(state: ExpansionState, services: Services) -> str:
    return "repair" if any(mendable(c) or repairable(c, services) for c in candidates_of(state)) else "score"


def route_after_score(state: ExpansionState, services: Services) -> str:
    return "refill" if services.refill and open_slots(candidates_of(state), services) else "gate"


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

    def made(ctx: Context, d: Draft, slot: int, refill: int) -> Candidate:
        return Candidate(id=candidate_id(ctx.iteration, slot, refill), code=d.code, operator=d.operator,
                         description=d.description, rationale=d.rationale, arch=d.arch, slot=slot, refill=refill,
                         fallback=d.fallback, autofix=d.autofix)

    def propose(state: ExpansionState) -> dict[str, Any]:
        ctx = _ctx(state)
        drafts = services.researcher.propose(ctx)[: ctx.k]
        fresh = [made(ctx, d, i, 2 if d.fallback else 0) for i, d in enumerate(drafts)]
        return {"candidates": dump(fresh), "repair_round": 0, "grants": [], "approved": []}

    def check(state: ExpansionState) -> dict[str, Any]:
        ctx = _ctx(state)
        cands = screen(candidates_of(state), services.known() if services.known else {})
        todo = [c for c in cands if c.status == "drafted"]
        return {"candidates": dump(_replace(cands, services.checker.check(ctx, todo) if todo else []))}

    def refill(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        taken = {code_hash(c.code) for c in cands} | set(services.known() if services.known else {})
        closed: list[Candidate] = []
        added: list[Candidate] = []
        for c in open_slots(cands, services):
            draft = services.researcher.refill(ctx, c, why_refill(c), taken)
            closed.append(c.model_copy(update={"closed": True}))  # this candidate's outcome is final
            if draft is not None:
                added.append(made(ctx, draft, c.slot, 2 if draft.fallback else c.refill + 1))
                taken.add(code_hash(draft.code))
        return {"candidates": dump(_replace(cands, closed) + added)}

    def repair(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        fixed: list[Candidate] = []
        for c in cands:
            failed = {"kind": c.failure_kind or "crash", "message": c.failure_message or "",
                      "code_hash": code_hash(c.code)}
            if mendable(c):  # free, and it does not use up one of the engineer's attempts
                code, mend = mend_shapes(c.code, c.failure_message or "")
                assert mend is not None
                fixed.append(c.model_copy(update={
                    "code": code, "status": "drafted", "failure_kind": None, "failure_message": None,
                    "autofix": f"{c.autofix}; {mend}" if c.autofix else mend, "history": [*c.history, failed]}))
                continue
            if not repairable(c, services):
                continue
            assert services.engineer is not None
            draft = services.engineer.repair(ctx, c)
            if draft is None:  # given up: no further attempts
                fixed.append(c.model_copy(update={"attempts": services.max_repairs}))
            else:
                fixed.append(c.model_copy(update={
                    "code": draft.code, "operator": c.operator, "status": "drafted", "attempts": c.attempts + 1,
                    "autofix": draft.autofix or c.autofix,
                    "rationale": draft.rationale or c.rationale, "arch": draft.arch,
                    "failure_kind": None, "failure_message": None, "history": [*c.history, failed]}))
        return {"candidates": dump(_replace(cands, fixed)), "repair_round": state.get("repair_round", 0) + 1}

    def score(state: ExpansionState) -> dict[str, Any]:
        ctx, cands = _ctx(state), candidates_of(state)
        todo = [c for c in cands if c.status == "checked"]
        return {"candidates": dump(screen_graphs(_replace(cands, services.scorer.score(ctx, todo) if todo else [])))}

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
                     ("refill", refill), ("gate", gate), ("approve", approve), ("train", train), ("analyse", analyse),
                     ("record", record)):
        graph.add_node(name, fn)
    graph.add_edge(START, "propose")
    graph.add_edge("propose", "check")
    graph.add_conditional_edges("check", lambda s: route_after_check(s, services), ["repair", "score"])
    graph.add_edge("repair", "check")
    graph.add_conditional_edges("score", lambda s: route_after_score(s, services), ["refill", "gate"])
    graph.add_edge("refill", "check")
    graph.add_conditional_edges("gate", lambda s: route_after_gate(s, services), ["approve", "train", "analyse"])
    graph.add_conditional_edges("approve", route_after_approve, ["check", "train", "analyse"])
    graph.add_edge("train", "analyse")
    graph.add_edge("analyse", "record")
    graph.add_edge("record", END)
    return graph.compile(checkpointer=checkpointer)
