"""The offline grammar writes causal token models: every sampled or mutated one maps tokens
(B, T) to logits (B, T, V), and the trusted causality check (agentnas/evaluator/causal.py)
finds no look-ahead in any of them; the same check does catch a model that peeks."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np
import pytest
import torch

from agentnas.evaluator.causal import PARTS, look_ahead, make_plan
from agentnas.space.proposer import OfflineProposer
from agentnas.space.shapes import analyse

VOCAB, SEQ = 64, 32


def build(code: str) -> torch.nn.Module:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<candidate>", "exec"), namespace)  # the grammar's own code, not a candidate's
    torch.manual_seed(0)
    model: torch.nn.Module = namespace["build_model"](VOCAB, SEQ)
    return model.eval()


def part_logits(model: torch.nn.Module, tokens: np.ndarray, positions: np.ndarray, bounds: np.ndarray
                ) -> np.ndarray:
    """What a scoring child returns for one part (sandbox/tokens.py's predict_positions)."""
    out = np.empty((len(positions), VOCAB), np.float32)
    starts = np.searchsorted(positions[:, 0], bounds)
    with torch.no_grad():
        for i in range(len(bounds) - 1):
            b0, b1 = int(bounds[i]), int(bounds[i + 1])
            logits = model(torch.from_numpy(tokens[b0:b1])).numpy()
            p = positions[starts[i]:starts[i + 1]]
            out[starts[i]:starts[i + 1]] = logits[p[:, 0] - b0, p[:, 1]]
    return out


def causality_verdict(model: torch.nn.Module, seed: int) -> str | None:
    """The trusted check's verdict on the model's logits (None: nothing looked ahead)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, (24, SEQ)).astype(np.int64)
    y = np.roll(x, -1, axis=1)
    y[:, -1] = -100
    plan = make_plan(x, y, VOCAB, batch_size=8, rng=rng)
    logits = {name: part_logits(model, plan.parts[name].tokens, plan.parts[name].positions, plan.parts[name].bounds)
              for name in PARTS}
    return look_ahead(plan, logits)


@pytest.fixture(scope="module")
def token_models() -> list[Any]:
    proposer = OfflineProposer((SEQ,), VOCAB, tokens=True)
    sampled = proposer.propose(None, "", k=16, seed=0)
    mutated = proposer.propose(sampled[0].arch, "", k=4, seed=1, partners=[sampled[1].arch])
    return [*proposer.seeds(), *sampled, *mutated]


def test_twenty_sampled_token_models_pass_the_trusted_causality_check(token_models: list[Any]) -> None:
    assert len(token_models) >= 20
    for i, proposal in enumerate(token_models):
        model = build(proposal.code)
        assert causality_verdict(model, i) is None, proposal.description


def test_token_models_map_tokens_to_logits_at_every_position_with_the_counted_parameters(
        token_models: list[Any]) -> None:
    for proposal in token_models[:8]:
        model = build(proposal.code)
        logits = model(torch.randint(0, VOCAB, (3, SEQ)))
        assert tuple(logits.shape) == (3, SEQ, VOCAB)
        assert sum(p.numel() for p in model.parameters()) == analyse(proposal.arch, (SEQ,), VOCAB).params


def test_the_check_used_above_catches_a_grammar_model_that_peeks_at_the_next_token(token_models: list[Any]) -> None:
    honest = build(token_models[0].code)

    class Peek(torch.nn.Module):
        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            nxt = torch.roll(tokens, -1, dims=1)
            return honest(tokens) + 8.0 * torch.nn.functional.one_hot(nxt, VOCAB)

    assert causality_verdict(Peek(), 0) is not None


def test_repair_makes_any_token_tree_causal_strides_and_cross_position_norms_removed() -> None:
    import agentnas.space.grammar as g
    from agentnas.space.repair import repair

    arch = g.Arch(stem=g.Stem(kind="embed", out=32, stride=2), head=g.Head(pool="avg"),
                  body=g.Seq(children=(g.Conv(stride=2), g.Norm(kind="batch"), g.Pool(stride=2),
                                       g.Norm(kind="group", groups=4), g.Attention(heads=4))))
    fixed = repair(arch, (SEQ,))
    leaves = [n for _, n in g.walk(fixed.body) if not g.kids(n)]
    assert fixed.head.pool == "token" and fixed.stem.stride == 1
    assert all(getattr(n, "stride", 1) == 1 for n in leaves)
    assert {n.kind for n in leaves if isinstance(n, g.Norm)} == {"layer"}
    from agentnas.space.render import render

    assert causality_verdict(build(render(fixed, (SEQ,), VOCAB)), 3) is None


def test_repair_reads_a_token_trees_recurrent_layers_left_to_right_only() -> None:
    import agentnas.space.grammar as g
    from agentnas.space.render import render
    from agentnas.space.repair import repair

    arch = g.Arch(stem=g.Stem(kind="embed", out=16, norm="layer", act=None), head=g.Head(pool="token"),
                  body=g.Residual(body=g.Recurrent(cell="lstm", bidirectional=True)))
    assert causality_verdict(build(render(arch, (SEQ,), VOCAB)), 4) is not None  # the backward pass peeks
    fixed = repair(arch, (SEQ,))
    assert [n.bidirectional for _, n in g.walk(fixed.body) if isinstance(n, g.Recurrent)] == [False]
    assert causality_verdict(build(render(fixed, (SEQ,), VOCAB)), 4) is None


def test_token_attention_is_the_other_models_attention_with_the_later_positions_masked() -> None:
    from agentnas.space.render_tokens import attention_class

    def attention(causal: bool) -> torch.nn.Module:
        namespace: dict[str, Any] = {}
        exec("import math\nimport torch\nfrom torch import nn\n" + textwrap.dedent(attention_class(causal)), namespace)
        torch.manual_seed(0)
        module: torch.nn.Module = namespace["CausalSelfAttention" if causal else "SelfAttention"](8, 2)
        return module

    plain, causal = attention(False), attention(True)
    x = torch.randn(2, 8, SEQ)                                   # (B, C, T)
    with torch.no_grad():
        full, masked = plain(x), causal(x)
        # The last position sees every position either way; the first only itself when masked.
        assert torch.allclose(full[..., -1], masked[..., -1], atol=1e-6)
        assert torch.allclose(masked[..., :1], plain(x[..., :1]), atol=1e-6)
        assert not torch.allclose(full[..., 0], masked[..., 0], atol=1e-3)
        later = x.clone()
        later[..., SEQ // 2:] += 1.0
        assert torch.allclose(causal(later)[..., :SEQ // 2], masked[..., :SEQ // 2], atol=1e-6)
