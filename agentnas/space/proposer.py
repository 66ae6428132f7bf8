"""The offline proposer: samples, mutates and recombines grammar trees into candidate code.

It is what `agentnas run` uses when no LLM endpoint is configured, and it is fully
deterministic for a given seed. The contract (`BaseProposer`):

- `propose(parent, hypothesis_text, k, seed)` returns up to k distinct `Proposal`s:
  fresh samples when `parent` is None, else mutations of the parent (one or two steps)
  and, when `partners` are given, recombinations with them. The hypothesis text steers
  both (keyword table in `agentnas.space.keywords`).
- `recombine(a, b, hypothesis_text, seed)` returns one child of two parents.
- `hypotheses(k, seed)` returns k short design directions (hypothesis nodes of the tree
  search), each built from the keyword table, so proposing under it shifts the grammar.

A `Proposal` carries the tree, the rendered candidate file (which depends on the tree
and input shape only: the same tree always gives the same code), the operator, a one-line
description of what changed and the parameter / multiply-add counts. Every proposal is
valid for the task's input shape and within `ProposerConfig`'s budget by construction.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from agentnas.space.describe import describe_arch
from agentnas.space.grammar import (
    GLU,
    Act,
    Arch,
    Attention,
    Conv,
    Head,
    Linear,
    Norm,
    Recur,
    Residual,
    Seq,
    Stem,
    arch_from_json,
    arch_from_source,
    arch_hash,
)
from agentnas.space.keywords import KEYWORDS, KeywordBias, input_words, keyword_bias
from agentnas.space.mutate import OPERATORS, Mutator, crossover, mutation_order
from agentnas.space.render import render
from agentnas.space.repair import repair
from agentnas.space.sampler import fit_budget, sample
from agentnas.space.shapes import analyse, input_to_shape
from agentnas.space.weights import SamplerConfig, Weights

Operator = Literal["sample", "mutate", "recombine", "seed"]
Seed = int | np.random.Generator | random.Random | None


class Proposal(BaseModel):
    """One proposed architecture: the tree, its candidate file and what it is."""

    model_config = ConfigDict(frozen=True)

    arch: Arch
    code: str
    arch_hash: str
    operator: Operator
    description: str
    rationale: str = ""
    hypothesis: str = ""
    steering: tuple[str, ...] = ()  # keywords of the hypothesis that shifted the grammar
    parents: tuple[str, ...] = ()   # arch hashes
    params: int
    macs: int

    def arch_dict(self) -> dict[str, Any]:
        return self.arch.model_dump(mode="json")


class Hypothesis(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    keywords: tuple[str, ...]


class ProposerConfig(BaseModel):
    """Bounds on proposals. A budget of None is unbounded."""

    model_config = ConfigDict(frozen=True)

    max_params: int | None = Field(default=1_000_000, gt=0)
    max_macs: int | None = Field(default=None, gt=0)
    max_depth: int = Field(default=8, ge=2, le=16)
    max_leaves: int = Field(default=96, ge=4)
    max_stages: int = Field(default=4, ge=1, le=6)
    max_blocks: int = Field(default=3, ge=1, le=6)
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    p_two_steps: float = Field(default=0.25, ge=0, le=1, description="mutations that apply two operators")
    p_recombine: float = Field(default=0.3, ge=0, le=1, description="children that recombine, when partners exist")

    def sampler(self) -> SamplerConfig:
        return SamplerConfig(max_params=self.max_params, max_macs=self.max_macs, max_depth=self.max_depth,
                             max_leaves=self.max_leaves, max_stages=self.max_stages, max_blocks=self.max_blocks,
                             widths=self.widths)


class BaseProposer(ABC):
    """Turns a parent architecture and a hypothesis into new candidate architectures."""

    @abstractmethod
    def propose(self, parent: Arch | None, hypothesis_text: str = "", k: int = 4, seed: Seed = None, *,
                partners: Sequence[Arch] = ()) -> list[Proposal]:
        """Up to k distinct proposals (fewer only when the space around the parent is exhausted)."""

    @abstractmethod
    def hypotheses(self, k: int, seed: Seed = None, *, exclude: Sequence[str] = ()) -> list[Hypothesis]:
        """k design directions in words, none of them in `exclude`."""


def as_rng(seed: Seed) -> np.random.Generator:
    """A Generator as given; one seeded by an int or drawn from a `random.Random` (whose state
    advances, deterministically); or, for None, a fresh non-deterministic one."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, random.Random):
        return np.random.default_rng(seed.getrandbits(128))
    return np.random.default_rng(seed)


def as_arch(obj: Arch | dict[str, Any] | str) -> Arch:
    """An architecture from a tree, its JSON (dict or text), or a rendered candidate file."""
    if isinstance(obj, Arch):
        return obj
    if isinstance(obj, str) and not obj.lstrip().startswith("{"):
        arch = arch_from_source(obj)
        if arch is None:
            raise ValueError("the code carries no `# agentnas-arch:` line (not written by the offline proposer)")
        return arch
    return arch_from_json(obj)


class OfflineProposer(BaseProposer):
    """The grammar-based proposer for one task's input shape and class count."""

    def __init__(self, input_shape: Sequence[int], num_classes: int, config: ProposerConfig | None = None, *,
                 tokens: bool = False) -> None:
        # tokens: causal token models (input_shape (T,), num_classes the vocabulary), see agentnas.space.causal
        self.tokens = tokens
        self.input_shape = tuple(int(d) for d in input_shape)
        input_to_shape(self.input_shape)  # refuses malformed shapes early
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = num_classes
        self.config = config or ProposerConfig()
        self.cfg = self.config.sampler()

    # single operators ------------------------------------------------------------------
    def make(self, arch: Arch, operator: Operator, description: str, *, hypothesis: str = "",
             steering: KeywordBias | None = None, parents: Sequence[Arch] = ()) -> Proposal:
        """A proposal for a given tree (repaired for the input shape); also how seeds are made."""
        arch = repair(arch, self.input_shape)
        stats = analyse(arch, self.input_shape, self.num_classes)
        rationale = f"{description}. Direction: {hypothesis}" if hypothesis else description
        return Proposal(arch=arch, code=render(arch, self.input_shape, self.num_classes), arch_hash=arch_hash(arch),
                        operator=operator, description=description, rationale=rationale, hypothesis=hypothesis,
                        steering=steering.matched if steering else (), parents=tuple(arch_hash(p) for p in parents),
                        params=stats.params, macs=stats.macs)

    def sample(self, hypothesis_text: str = "", seed: Seed = None) -> Proposal:
        rng, steering = as_rng(seed), keyword_bias(hypothesis_text)
        arch = sample(self.input_shape, self.num_classes, rng, Weights(steering), self.cfg, self.tokens)
        return self.make(arch, "sample", f"sampled {describe_arch(arch, 160)}", hypothesis=hypothesis_text,
                         steering=steering)

    def mutate(self, parent: Arch, hypothesis_text: str = "", seed: Seed = None, steps: int = 1) -> Proposal | None:
        """A mutation of `parent` (`steps` operators in a row), or None if no operator yields a new tree."""
        rng, steering = as_rng(seed), keyword_bias(hypothesis_text)
        weights = Weights(steering)
        parent = repair(parent, self.input_shape)
        arch, notes = parent, []
        seen = {arch_hash(parent)}
        for _ in range(steps):
            step = self._one_mutation(arch, rng, weights, seen)
            if step is None:
                break
            arch, note = step
            notes.append(note)
            seen.add(arch_hash(arch))
        if not notes:
            return None
        return self.make(arch, "mutate", "; ".join(notes), hypothesis=hypothesis_text, steering=steering,
                         parents=(parent,))

    def _one_mutation(self, arch: Arch, rng: np.random.Generator, weights: Weights,
                      seen: set[str]) -> tuple[Arch, str] | None:
        mutator = Mutator(arch, self.input_shape, self.num_classes, rng, weights, self.cfg)
        for name in mutation_order(rng, weights):
            result = OPERATORS[name](mutator)
            if result is None:
                continue
            child, note = result
            fitted = self._fit(child)
            if fitted is None or arch_hash(fitted) in seen:
                continue
            if analyse(fitted, self.input_shape, self.num_classes).params < \
                    analyse(repair(child, self.input_shape), self.input_shape, self.num_classes).params:
                note += " (narrowed to fit the budget)"
            return fitted, note
        return None

    def _fit(self, arch: Arch) -> Arch | None:
        return fit_budget(repair(arch, self.input_shape), self.input_shape, self.num_classes, self.cfg)

    def recombine(self, a: Arch, b: Arch, hypothesis_text: str = "", seed: Seed = None) -> Proposal:
        """A child of two parents; if every crossover copies a parent, that copy is mutated once."""
        rng, steering = as_rng(seed), keyword_bias(hypothesis_text)
        a, b = repair(a, self.input_shape), repair(b, self.input_shape)
        parents = {arch_hash(a), arch_hash(b)}
        child, note = a, "copy of A"
        for _ in range(10):
            raw, note = crossover(a, b, rng)
            fitted = self._fit(raw)
            if fitted is not None:
                child = fitted
                if arch_hash(child) not in parents:
                    return self.make(child, "recombine", note, hypothesis=hypothesis_text, steering=steering,
                                     parents=(a, b))
        step = self._one_mutation(child, rng, Weights(steering), parents)
        if step is not None:
            child, extra = step
            note = f"{note}; {extra}"
        return self.make(child, "recombine", note, hypothesis=hypothesis_text, steering=steering, parents=(a, b))

    # the contract ------------------------------------------------------------------------
    def propose(self, parent: Arch | None, hypothesis_text: str = "", k: int = 4, seed: Seed = None, *,
                partners: Sequence[Arch] = ()) -> list[Proposal]:
        rng = as_rng(seed)
        seen = {arch_hash(repair(parent, self.input_shape))} if parent is not None else set()
        out: list[Proposal] = []
        for _ in range(8 * k + 8):
            if len(out) >= k:
                break
            proposal: Proposal | None
            if parent is None:
                proposal = self.sample(hypothesis_text, rng)
            elif partners and rng.random() < self.config.p_recombine:
                other = partners[int(rng.integers(len(partners)))]
                proposal = self.recombine(parent, other, hypothesis_text, rng)
            else:
                steps = 2 if rng.random() < self.config.p_two_steps else 1
                proposal = self.mutate(parent, hypothesis_text, rng, steps)
            if proposal is not None and proposal.arch_hash not in seen:
                seen.add(proposal.arch_hash)
                out.append(proposal)
        return out

    def hypotheses(self, k: int, seed: Seed = None, *, exclude: Sequence[str] = ()) -> list[Hypothesis]:
        rng = as_rng(seed)
        rank = input_to_shape(self.input_shape).rank
        # Token models: the directions that fit a causal sequence model (no word that names a keyword).
        words = "the task's sequences" if self.tokens else input_words(rank)
        pool = [(kw.name, t.format(input=words)) for kw in KEYWORDS
                if (kw.tokens and (1 in kw.ranks or not kw.ranks) if self.tokens else rank in kw.ranks)
                for t in kw.templates]
        pool = [(name, text) for name, text in pool if text not in set(exclude)]
        order = rng.permutation(len(pool))
        picked: list[Hypothesis] = []
        names: set[str] = set()
        # One direction per keyword first, so k hypotheses point k different ways.
        for pass_ in range(2):
            for i in order:
                name, text = pool[int(i)]
                if len(picked) >= k or (pass_ == 0 and name in names) or any(h.text == text for h in picked):
                    continue
                names.add(name)
                picked.append(Hypothesis(text=text, keywords=keyword_bias(text).matched))
        return picked

    def seeds(self) -> list[Proposal]:
        """Hand-written starting points in the grammar (the MNIST-1D paper's CNN, a dilated
        residual stack, an MLP), for a search that starts from known baselines."""
        out = []
        for arch, note in (token_seed_archs() if self.tokens else seed_archs(self.input_shape)):
            fitted = self._fit(arch)
            if fitted is not None:
                out.append(self.make(fitted, "seed", note))
        return out


def token_seed_archs() -> list[tuple[Arch, str]]:
    """Token-model baselines in the grammar: a small causal transformer, a GRU, a gated causal
    convolution stack (the shapes of the issue's examples/tokens_*.py, in the grammar's terms)."""
    stem, head = Stem(kind="embed", out=64, kernel=1, norm=None, act=None), Head(pool="token")
    attn = Residual(body=Seq(children=(Norm(kind="layer"), Attention(heads=4))))
    mlp = Residual(body=Seq(children=(Norm(kind="layer"), Linear(out=128), Act(kind="gelu"), Linear(out=64))))
    gru = Residual(body=Seq(children=(Norm(kind="layer"), Recur())))
    conv = Residual(body=Seq(children=(Norm(kind="layer"), GLU(kernel=3), Conv(kernel=3, depthwise=True))))
    return [(Arch(stem=stem, body=Seq(children=(attn, mlp, attn, mlp)), head=head),
             "seed: two-layer causal transformer (masked attention and MLP blocks)"),
            (Arch(stem=stem, body=Seq(children=(gru, mlp)), head=head), "seed: GRU mixer and an MLP block"),
            (Arch(stem=stem, body=Seq(children=(conv, mlp, conv, mlp)), head=head),
             "seed: gated causal convolutions with MLP blocks")]


def seed_archs(input_shape: Sequence[int]) -> list[tuple[Arch, str]]:
    """Baseline architectures written in the grammar for an input shape."""
    rank = input_to_shape(tuple(input_shape)).rank
    mlp = Arch(stem=Stem(kind="dense", out=128, kernel=1, norm=None),
               body=Seq(children=(Linear(out=128), Act())), head=Head(pool="flatten"))
    if rank == 0:
        res = Residual(body=Seq(children=(Norm(), Linear(out=256), Act(), Linear(out=64))))
        return [(mlp, "seed: two-layer MLP"),
                (Arch(stem=Stem(kind="dense", out=64, kernel=1), body=Seq(children=(res, res)),
                      head=Head(pool="flatten")), "seed: residual MLP")]
    cnn = Arch(stem=Stem(out=25, kernel=5, stride=2, norm=None),
               body=Seq(children=(Conv(out=25, stride=2), Act(), Conv(out=25, stride=2), Act())),
               head=Head(pool="flatten"))
    blocks = tuple(Seq(children=(Residual(body=Seq(children=(Conv(dilation=d), Norm(), Act(), Conv(dilation=d),
                                                              Norm()))), Act()))
                   for d in (1, 2, 4, 8))
    dilated = Arch(stem=Stem(out=32, kernel=5), body=Seq(children=blocks), head=Head(pool="avg"))
    flat = Arch(stem=Stem(out=64, kernel=1, norm=None), body=Seq(children=(Linear(out=64), Act())),
                head=Head(pool="flatten", hidden=64))
    return [(cnn, "seed: small strided CNN with a flatten head (the MNIST-1D paper's CNN)"),
            (dilated, "seed: residual stack of dilated convolutions with batch norm and global average pooling"),
            (flat, "seed: point-wise MLP with a flatten head")]
