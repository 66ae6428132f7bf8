"""The search tree as an index over node and result records.

`SearchTree` is rebuilt by replaying records in order (`replay`), never unpickled. Adding
a result backs its reward up the tree: every ancestor's visit count grows by one and its
best reward becomes the max with the new one. Only full-fidelity rewards back up as
rewards (a short training run is promotion evidence, not an accuracy to compare with full
ones); every evaluation counts as a visit. Policies read the tree; the loop writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from agentnas.records import SearchNode, SearchResult

FULL = 1.0  # the full recipe's fidelity


class TreeError(ValueError):
    """A record does not fit the tree (unknown parent, duplicate id, result for no node)."""


class SearchTree:
    def __init__(self) -> None:
        self.nodes: dict[str, SearchNode] = {}
        self.children: dict[str | None, list[str]] = {None: []}
        self.by_key: dict[str, str] = {}  # architecture key -> the node that holds it (the first one)
        self.results: list[SearchResult] = []  # query order
        self.node_results: dict[str, list[SearchResult]] = {}
        self._queried: dict[tuple[str, float], SearchResult] = {}
        self._visits: dict[str, int] = {}
        self._best: dict[str, float] = {}  # best full-fidelity reward in the subtree
        self._next_step = 0

    @classmethod
    def replay(cls, nodes: Iterable[SearchNode], results: Iterable[SearchResult]) -> SearchTree:
        """The tree those records describe (nodes first: a result always follows its node)."""
        tree = cls()
        for node in nodes:
            tree.add_node(node)
        for result in results:
            tree.add_result(result)
        return tree

    # -- writing (the loop only) -------------------------------------------------------

    def add_node(self, node: SearchNode) -> None:
        if node.id in self.nodes:
            raise TreeError(f"node {node.id!r} is already in the tree")
        if node.parent_id is not None and node.parent_id not in self.nodes:
            raise TreeError(f"node {node.id!r} names parent {node.parent_id!r}, which is not in the tree")
        if node.kind == "architecture":
            hyp = self.nodes.get(node.hypothesis_id)
            if hyp is None or hyp.kind != "hypothesis":
                raise TreeError(f"node {node.id!r} names hypothesis {node.hypothesis_id!r}, which is not one")
        self.nodes[node.id] = node
        self.children.setdefault(node.parent_id, []).append(node.id)
        self.children.setdefault(node.id, [])
        if node.key:
            self.by_key.setdefault(node.key, node.id)
        self._next_step = max(self._next_step, node.step + 1)

    def add_result(self, result: SearchResult) -> None:
        """Record one real evaluation and back it up to the root."""
        node = self.nodes.get(result.node_id)
        if node is None:
            raise TreeError(f"result for unknown node {result.node_id!r}")
        if node.key != result.key:
            raise TreeError(f"result key {result.key!r} does not match node {node.id!r} ({node.key!r})")
        self.results.append(result)
        self.node_results.setdefault(node.id, []).append(result)
        self._queried.setdefault((result.key, result.fidelity), result)
        self._next_step = max(self._next_step, result.step + 1)
        reward = result.val_accuracy if result.fidelity >= FULL else None
        for ancestor in self.lineage(node.id):
            self._visits[ancestor] = self._visits.get(ancestor, 0) + 1
            if reward is not None and reward > self._best.get(ancestor, float("-inf")):
                self._best[ancestor] = reward

    # -- reading -----------------------------------------------------------------------

    @property
    def next_step(self) -> int:
        """The index of the next policy step (one more than any recorded step)."""
        return self._next_step

    def lineage(self, node_id: str) -> Iterator[str]:
        """The node, then its ancestors up to its hypothesis."""
        current: str | None = node_id
        while current is not None:
            yield current
            current = self.nodes[current].parent_id

    def hypotheses(self) -> list[SearchNode]:
        return [self.nodes[i] for i in self.children[None]]

    def kids(self, node_id: str | None) -> list[SearchNode]:
        return [self.nodes[i] for i in self.children.get(node_id, [])]

    def visits(self, node_id: str | None) -> int:
        """Real evaluations in the subtree (the root's: all of them)."""
        return len(self.results) if node_id is None else self._visits.get(node_id, 0)

    def best(self, node_id: str | None) -> float | None:
        """The best full-fidelity validation accuracy in the subtree, None before any."""
        if node_id is None:
            return max((r.val_accuracy for r in self.full_results()), default=None)  # type: ignore[type-var]
        return self._best.get(node_id)

    def reward(self, node_id: str) -> float | None:
        """The node's own full-fidelity validation accuracy (None: not evaluated in full, or failed)."""
        for r in self.node_results.get(node_id, ()):
            if r.fidelity >= FULL and r.val_accuracy is not None:
                return r.val_accuracy
        return None

    def evaluated(self, node_id: str) -> bool:
        return bool(self.node_results.get(node_id))

    def predicted_only(self, node_id: str) -> bool:
        return self.nodes[node_id].kind == "architecture" and not self.evaluated(node_id)

    def queried(self, key: str, fidelity: float = FULL) -> SearchResult | None:
        """The result of an earlier query of `key` at `fidelity`, if any (queries are never repeated)."""
        return self._queried.get((key, fidelity))

    def full_results(self) -> list[SearchResult]:
        return [r for r in self.results if r.fidelity >= FULL and r.ok]

    def cost(self) -> float:
        return sum(r.cost for r in self.results)

    def incumbent(self) -> SearchResult | None:
        """The best full-fidelity result so far (the first one on ties)."""
        best: SearchResult | None = None
        for r in self.full_results():
            if best is None or r.val_accuracy > best.val_accuracy:  # type: ignore[operator]
                best = r
        return best
