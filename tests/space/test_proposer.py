"""The offline proposer: determinism, mutations, recombination, steering, budgets, hypotheses."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
from grammar_support import SHAPES, forward_backward, small_proposer

from agentnas.space import Arch, OfflineProposer, ProposerConfig, analyse, arch_hash, as_arch, keyword_bias, seed_archs
from agentnas.space.grammar import GLU, SE, Attention, Conv, Residual, count_leaves, depth, walk
from agentnas.space.mutate import OPERATORS, Mutator
from agentnas.space.sampler import Weights


def _convs(arch: Arch) -> list[Conv]:
    return [n for _, n in walk(arch.body) if isinstance(n, Conv) and n.kernel > 1]


def test_same_seed_gives_the_same_proposals() -> None:
    proposer = small_proposer((1, 40))
    first = proposer.propose(None, "dilated residual", k=5, seed=3)
    again = small_proposer((1, 40)).propose(None, "dilated residual", k=5, seed=3)
    assert [p.code for p in first] == [p.code for p in again]
    kids = proposer.propose(first[0].arch, "gating", k=4, seed=9, partners=[p.arch for p in first[1:]])
    kids_again = proposer.propose(first[0].arch, "gating", k=4, seed=9, partners=[p.arch for p in first[1:]])
    assert [p.code for p in kids] == [p.code for p in kids_again]
    assert [p.code for p in proposer.propose(None, "", k=5, seed=4)] != [p.code for p in first]


def test_a_python_random_state_seeds_proposals_deterministically() -> None:
    proposer = small_proposer((1, 40))
    first = proposer.propose(None, "", k=3, seed=random.Random(7))
    again = proposer.propose(None, "", k=3, seed=random.Random(7))
    assert [p.arch_hash for p in first] == [p.arch_hash for p in again]
    rng = random.Random(7)
    proposer.propose(None, "", k=3, seed=rng)
    assert [p.arch_hash for p in proposer.propose(None, "", k=3, seed=rng)] != [p.arch_hash for p in first]


def test_propose_returns_k_distinct_children_none_equal_to_the_parent() -> None:
    proposer = small_proposer((1, 40))
    parent = proposer.sample(seed=1)
    kids = proposer.propose(parent.arch, "", k=6, seed=2)
    hashes = [p.arch_hash for p in kids]
    assert len(kids) == 6 and len(set(hashes)) == 6
    assert parent.arch_hash not in hashes
    assert all(p.operator == "mutate" and p.parents == (parent.arch_hash,) for p in kids)


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_mutations_change_the_hash_stay_valid_and_say_what_changed(kind: str) -> None:
    shape = SHAPES[kind]
    proposer = small_proposer(shape)
    for seed in range(12):
        parent = proposer.sample(seed=seed)
        child = proposer.mutate(parent.arch, seed=seed + 100)
        assert child is not None
        assert child.arch_hash != parent.arch_hash
        assert child.description and child.description != parent.description
        forward_backward(child, shape)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_every_mutation_operator_applies_and_yields_a_valid_tree(name: str) -> None:
    shape = (1, 40)
    proposer = small_proposer(shape)
    applied = 0
    for seed in range(15):
        parent = proposer.sample(seed=seed).arch
        rng = np.random.default_rng(seed)
        result = OPERATORS[name](Mutator(parent, shape, 10, rng, Weights(), proposer.cfg))
        if result is None:
            continue
        child = proposer.make(result[0], "mutate", result[1])
        forward_backward(child, shape)
        applied += child.arch_hash != arch_hash(parent)
    assert applied >= 5, f"operator {name} changed only {applied} of 15 parents"


def test_recombination_is_valid_and_differs_from_both_parents() -> None:
    for kind, shape in SHAPES.items():
        proposer = small_proposer(shape)
        for seed in range(8):
            a, b = proposer.sample(seed=seed), proposer.sample(seed=seed + 50)
            child = proposer.recombine(a.arch, b.arch, seed=seed)
            assert child.operator == "recombine" and child.parents == (a.arch_hash, b.arch_hash)
            assert child.arch_hash not in {a.arch_hash, b.arch_hash}, kind
            assert "A" in child.description and "B" in child.description
            forward_backward(child, shape)


def test_recombination_of_identical_parents_still_gives_a_new_child() -> None:
    proposer = small_proposer((1, 8, 8))
    a = proposer.sample(seed=5)
    child = proposer.recombine(a.arch, a.arch, seed=0)
    assert child.arch_hash != a.arch_hash
    forward_backward(child, (1, 8, 8))


def test_partners_bring_recombinations_into_propose() -> None:
    proposer = small_proposer((1, 40))
    pool = proposer.propose(None, "", k=4, seed=0)
    kids = proposer.propose(pool[0].arch, "", k=12, seed=1, partners=[p.arch for p in pool[1:]])
    assert {"mutate", "recombine"} <= {p.operator for p in kids}


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def test_steering_text_shifts_the_sample_distribution() -> None:
    proposer = small_proposer((1, 40))

    def stats(text: str) -> dict[str, float]:
        ps = proposer.propose(None, text, k=40, seed=0)
        return {
            "dilated": _mean([_mean([c.dilation > 1 for c in _convs(p.arch)]) for p in ps]),
            "attention": _mean([any(isinstance(n, Attention) for _, n in walk(p.arch.body)) for p in ps]),
            "depthwise": _mean([_mean([c.depthwise for c in _convs(p.arch)]) for p in ps]),
            "gating": _mean([sum(isinstance(n, SE | GLU) for _, n in walk(p.arch.body)) for p in ps]),
            "params": float(np.median([p.params for p in ps])),
        }

    base = stats("")
    assert stats("Dilated convolutions widen the receptive field")["dilated"] > base["dilated"] + 0.2
    assert stats("add self-attention")["attention"] > base["attention"] + 0.3
    assert stats("depthwise separable convolutions")["depthwise"] > base["depthwise"] + 0.2
    assert stats("gating with squeeze-excitation")["gating"] > base["gating"] + 1.0
    assert stats("a smaller network with fewer parameters")["params"] < 0.6 * base["params"]
    assert stats("wider layers")["params"] > 1.5 * base["params"]
    assert stats("no attention at all")["attention"] < base["attention"]


def test_steering_shifts_which_mutations_are_made() -> None:
    proposer = small_proposer((1, 40))
    parents = [proposer.sample(seed=s).arch for s in range(6)]

    def share(text: str, word: str) -> float:
        kids = [k for i, p in enumerate(parents) for k in proposer.propose(p, text, k=5, seed=i)]
        return _mean([word in k.description for k in kids])

    assert share("dilated", "dilation") > share("", "dilation") + 0.2
    assert share("residual skip connections", "skip connection") > share("", "skip connection") + 0.15


def test_steer_reports_keywords_and_negations() -> None:
    s = keyword_bias("Residual blocks, but without attention; GELU")
    assert {"residual", "gelu"} <= set(s.matched)
    assert s.negated == ("attention",)
    assert s.factor("block.attention") < 1 < s.factor("block.residual")
    assert keyword_bias("an LSTM over time").matched == ()  # the grammar has no LSTM
    assert keyword_bias("a GRU over time").matched == ("recurrence",)  # token models' recurrence block


@pytest.mark.parametrize("kind", sorted(SHAPES))
def test_parameter_budget_holds_for_samples_mutations_and_recombinations(kind: str) -> None:
    shape = SHAPES[kind]
    proposer = OfflineProposer(shape, 10, ProposerConfig(max_params=12_000, widths=(32, 64, 96)))
    pool = proposer.propose(None, "wider and deeper", k=10, seed=0)
    kids = [k for i, p in enumerate(pool[:4])
            for k in proposer.propose(p.arch, "wider", k=3, seed=i, partners=[q.arch for q in pool])]
    for p in pool + kids:
        assert p.params <= 12_000
        assert p.params == analyse(p.arch, shape, 10).params


def test_macs_and_tree_limits_hold() -> None:
    config = ProposerConfig(max_params=None, max_macs=400_000, max_depth=5, max_leaves=20)
    proposer = OfflineProposer((1, 40), 10, config)
    pool = proposer.propose(None, "deeper", k=12, seed=0)
    kids = [k for i, p in enumerate(pool[:4]) for k in proposer.propose(p.arch, "deeper", k=3, seed=i)]
    for p in pool + kids:
        assert p.macs <= 400_000
        assert depth(p.arch.body) <= 5 and count_leaves(p.arch.body) <= 20


def test_impossible_budget_is_a_clear_error() -> None:
    proposer = OfflineProposer((1, 40), 10, ProposerConfig(max_params=50))
    with pytest.raises(RuntimeError, match="no architecture within the limits"):
        proposer.sample(seed=0)


def test_hypotheses_are_distinct_directions_that_steer() -> None:
    proposer = small_proposer((1, 40))
    hyps = proposer.hypotheses(8, seed=0)
    assert len({h.text for h in hyps}) == 8
    assert len({h.keywords[0] for h in hyps}) == 8
    assert all(h.keywords == keyword_bias(h.text).matched and h.keywords for h in hyps)
    assert hyps == proposer.hypotheses(8, seed=0)
    more = proposer.hypotheses(5, seed=1, exclude=[h.text for h in hyps])
    assert not {h.text for h in more} & {h.text for h in hyps}
    vector = small_proposer((20,)).hypotheses(30, seed=0)
    assert not any("dilated" in h.keywords or "attention" in h.keywords for h in vector)


def test_seed_architectures_include_a_dilated_residual_stack() -> None:
    proposer = OfflineProposer((1, 40), 10)
    seeds = proposer.seeds()
    assert all(p.operator == "seed" for p in seeds)
    dilated = [p for p in seeds if sorted({c.dilation for c in _convs(p.arch)}) == [1, 2, 4, 8]]
    assert dilated and any(isinstance(n, Residual) for _, n in walk(dilated[0].arch.body))
    for p in seeds:
        forward_backward(p, (1, 40))
    assert len(seed_archs((20,))) >= 1


def test_parents_are_accepted_as_tree_json_or_code() -> None:
    p = small_proposer((1, 40)).sample(seed=0)
    assert as_arch(p.code) == as_arch(p.arch_dict()) == as_arch(p.arch.model_dump_json())
    assert arch_hash(as_arch(p.code)) == p.arch_hash
    with pytest.raises(ValueError, match="agentnas-arch"):
        as_arch("def build_model(s, n): ...")


def test_bad_task_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="input shape"):
        OfflineProposer((1, 2, 3, 4), 10)
    with pytest.raises(ValueError, match="num_classes"):
        OfflineProposer((1, 40), 1)


_DIGEST = """
import hashlib
from agentnas.space import OfflineProposer, ProposerConfig
p = OfflineProposer((1, 40), 10, ProposerConfig(widths=(8, 16), max_params=30_000))
pool = p.propose(None, "dilated residual gating", k=4, seed=5)
kids = p.propose(pool[0].arch, "attention, wider", k=4, seed=6, partners=[q.arch for q in pool[1:]])
print(hashlib.sha256("".join(q.code for q in pool + kids).encode()).hexdigest())
"""


def test_proposals_do_not_depend_on_the_process_hash_seed() -> None:
    """A resumed run (a new process) must propose exactly what the first process would have."""
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", _DIGEST], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
