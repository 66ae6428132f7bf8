"""Prompts show a grammar file without its unchanged helper classes; a reply that uses them gets them back."""

from __future__ import annotations

import numpy as np
import torch

from agentnas.agents.fixups import mend_draft
from agentnas.fingerprint import code_hash
from agentnas.llm.prompts import shown_code
from agentnas.space.helpers import ELIDED, elide_helpers, restore_helpers
from agentnas.space.proposer import OfflineProposer


def _files(shape: tuple[int, ...], classes: int, n: int, **kw: bool) -> list[str]:
    return [p.code for p in OfflineProposer(shape, classes, **kw).propose(None, "", n, np.random.default_rng(1))]


def _build(code: str) -> torch.nn.Module:
    namespace: dict[str, object] = {}
    exec(compile(code, "candidate", "exec"), namespace)  # noqa: S102 - the grammar's own files, not a candidate's
    return namespace["build_model"]((1, 40), 10)  # type: ignore[operator,no-any-return]


def test_a_shown_grammar_file_names_its_helpers_instead_of_defining_them_and_the_reply_gets_them_back() -> None:
    for code in _files((1, 40), 10, 6):
        shown = shown_code(code)
        assert "class " not in shown and shown.count(ELIDED) == 1
        assert len(shown) < len(code) - 1000
        mended, note = mend_draft(shown)
        assert note is not None and note.startswith("the grammar's ") and ELIDED not in mended
        assert code_hash(mended) == code_hash(code)  # the same model the grammar wrote
        assert _build(mended)(torch.randn(2, 1, 40)).shape == (2, 10)


def test_token_models_helpers_are_left_out_and_restored_too() -> None:
    for code in _files((32,), 16, 4, tokens=True):
        shown, names = elide_helpers(code)
        assert "TokenEmbedding" in names
        assert code_hash(restore_helpers(shown)[0]) == code_hash(code)


def test_a_helper_the_model_changed_is_shown_and_kept_as_written() -> None:
    code = _files((1, 40), 10, 1)[0]
    changed = code.replace("return self.proj(x) + self.body(x)", "return self.proj(x) + 0.5 * self.body(x)")
    assert changed != code
    shown, names = elide_helpers(changed)
    assert "Residual" not in names and "0.5 * self.body(x)" in shown
    assert restore_helpers(changed) == (changed, [])


def test_code_that_needs_no_helper_or_does_not_parse_is_left_as_it_is() -> None:
    plain = ("from torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
             "    return nn.LazyLinear(num_classes)\n")
    assert restore_helpers(plain) == (plain, []) and elide_helpers(plain) == (plain, [])
    assert restore_helpers("def broken(:\n    Residual(") == ("def broken(:\n    Residual(", [])
