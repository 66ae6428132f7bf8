"""The search's frozen records: tree nodes, real results, and a policy's decisions.

The tree is stored as `id -> parent_id` rows (nodes) plus results, both append-only, so
a run's whole search state is rebuilt by replaying them in order (`SearchTree.replay`);
nothing is pickled. Policies read these records and return a `Step`; only the loop that
runs the search appends.

By design a `SearchResult` holds the validation accuracy a search selects on and no test
accuracy: what a policy can read can never include the test split.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

NodeKind = Literal["hypothesis", "architecture"]
# How a node came to be: a hypothesis; an architecture sampled in a hypothesis's direction; a child
# of an architecture (one small change, a larger rewrite, or two parents mixed). Code-level runs
# have more (seed, edit, refill, ...): any word is kept, these are the ones the tabular search makes.
Operator = str
OPERATORS = ("hypothesis", "sample", "mutate", "refine", "recombine")


class SearchNode(BaseModel):
    """One node of the two-level tree.

    Hypotheses (a design direction in words) hang under the implicit root (`parent_id`
    None); architectures hang under a hypothesis or under another architecture (their
    mutations, refinements and recombinations). An architecture node without a result is
    *predicted-only*: the value model judged it, no real compute was spent, and it can be
    promoted to a real evaluation later.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    parent_id: str | None = None
    kind: NodeKind
    operator: Operator = Field(min_length=1)
    key: str = ""  # the architecture's identity: a space key (tabular) or a code hash (real tasks)
    text: str = ""  # hypothesis: the direction in words; architecture: what changed
    hypothesis_id: str = ""  # the hypothesis this node descends from ("" for a hypothesis itself)
    prior_mean: float | None = None  # the value model's prediction when the node was made (accuracy)
    prior_std: float | None = None
    step: int = Field(default=0, ge=0)  # the policy step that made it

    @model_validator(mode="after")
    def _two_levels(self) -> SearchNode:
        if self.kind == "hypothesis":
            if self.parent_id is not None or self.operator != "hypothesis" or not self.text:
                raise ValueError("a hypothesis hangs under the root (parent_id None), has operator "
                                 "'hypothesis' and a text")
        elif self.parent_id is None or not self.key or self.operator == "hypothesis" or not self.hypothesis_id:
            raise ValueError("an architecture needs a parent, a key, a hypothesis_id and an architecture operator")
        return self


class Observation(BaseModel):
    """What an evaluator returns for one architecture at one fidelity: validation only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    val_accuracy: float | None = None  # None when the evaluation failed
    failure: str | None = None  # the failure kind, when it failed

    @model_validator(mode="after")
    def _one_outcome(self) -> Observation:
        if (self.val_accuracy is None) == (self.failure is None):
            raise ValueError("an observation has either a val_accuracy or a failure")
        return self


class SearchResult(BaseModel):
    """One real evaluation of a node, in query order. `cost` is what it took from the budget
    (its fidelity: a full evaluation costs 1)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str
    key: str
    fidelity: float = Field(default=1.0, gt=0, le=1)
    val_accuracy: float | None = None
    failure: str | None = None
    cost: float = Field(default=1.0, ge=0)
    step: int = Field(default=0, ge=0)
    # The task metric's validation score when it is not the accuracy (a token task's loss);
    # the tree ranks by `score`, through its `Metric`.
    val_score: float | None = None

    @property
    def score(self) -> float | None:
        return self.val_score if self.val_score is not None else self.val_accuracy

    @property
    def ok(self) -> bool:
        return self.score is not None


class EvalRequest(BaseModel):
    """Evaluate node `node_id` for real at `fidelity` (a fraction of the task's full recipe)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str
    fidelity: float = Field(default=1.0, gt=0, le=1)


class Expansion(BaseModel):
    """Ask the proposer (the agents) for children: under hypothesis `hypothesis_id` (None: a
    new hypothesis first), of architecture `parent_id` (None: fresh samples), recombined with
    `other_id` when given. A code-level run's proposals cost real work (LLM calls, sandbox
    checks), so its policy asks for them instead of making them itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hypothesis_id: str | None = None
    parent_id: str | None = None
    other_id: str | None = None


class Step(BaseModel):
    """A policy's decision: nodes to add (in order), an expansion for the proposer to carry out,
    then evaluations to run. `note` says why, for the live view and the journal. An empty step
    means nothing is left to try."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    new_nodes: tuple[SearchNode, ...] = ()
    expand: Expansion | None = None
    evaluate: tuple[EvalRequest, ...] = ()
    note: str = ""

    @property
    def empty(self) -> bool:
        return not self.new_nodes and self.expand is None and not self.evaluate
