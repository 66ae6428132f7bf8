"""Mechanical mends of a model's file: forgotten imports, super().__init__() and build_model before the
sandbox check, and wrong layer input sizes after a shape failure."""

from __future__ import annotations

import torch

from agentnas.agents.fixups import (
    add_missing_builder,
    add_missing_imports,
    add_super_init,
    mend_draft,
)
from agentnas.agents.shape_mends import infer_input_sizes, mend_shapes, same_padding

FORGOT = '''"""A model."""
from __future__ import annotations


def build_model(input_shape, num_classes):
    width = math.prod(input_shape)
    return nn.Sequential(nn.Flatten(), nn.Linear(width, num_classes))
'''


def test_a_forgotten_import_is_added_after_the_docstring_and_future_imports() -> None:
    code, added = add_missing_imports(FORGOT)
    assert added == ["import math", "from torch import nn"]
    compile(code, "model.py", "exec")
    assert code.index("from __future__") < code.index("import math") < code.index("def build_model")
    namespace: dict[str, object] = {}
    exec(code, namespace)  # the mended file defines a working builder
    model = namespace["build_model"]((1, 40), 10)  # type: ignore[operator]
    assert model is not None


def test_code_that_imports_or_binds_the_name_or_does_not_parse_is_left_alone() -> None:
    fine = "import math\nfrom torch import nn as nn\n\ndef build_model(s, n):\n    return math.pi\n"
    assert add_missing_imports(fine) == (fine, [])
    own = "def build_model(s, n):\n    math = 3\n    return math\n"
    assert add_missing_imports(own) == (own, [])
    broken = "def build_model(:\n    math.pi\n"
    assert add_missing_imports(broken) == (broken, [])


CHANNELS_CHANGED = '''import math
from torch import nn


def build_model(input_shape, num_classes):
    in_channels, length = input_shape
    return nn.Sequential(
        nn.Conv1d(in_channels, 7, kernel_size=7, stride=4, padding=3),  # (7, 10): was 25 channels
        nn.BatchNorm1d(num_features=25),
        nn.ReLU(),
        nn.Conv1d(
            25,  # in
            25, 3, padding=1, groups=1,
        ),
        nn.Flatten(),
        nn.Linear(25 * math.ceil(length / 8), out_features=num_classes),
    )
'''


def test_wrong_input_sizes_are_inferred_and_the_architecture_kept() -> None:
    import torch

    def run(code: str) -> torch.nn.Module:
        namespace: dict[str, object] = {}
        exec(code, namespace)
        model = namespace["build_model"]((1, 40), 10)  # type: ignore[operator]
        assert isinstance(model, torch.nn.Module)
        return model

    x = torch.zeros(2, 1, 40)
    try:
        run(CHANNELS_CHANGED)(x)
        raise AssertionError("the unmended file should fail")
    except RuntimeError:
        pass
    code, lazy = infer_input_sizes(CHANNELS_CHANGED)
    assert lazy == ["LazyBatchNorm1d", "LazyConv1d", "LazyLinear"]
    model = run(code)
    assert tuple(model(x).shape) == (2, 10)
    assert "# (7, 10): was 25 channels" in code  # comments and layout stay
    convs = [m for m in model if isinstance(m, torch.nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(7, (7,), (4,)), (25, (3,), (1,))]
    assert infer_input_sizes(code) == (code, [])  # idempotent: a second shape failure goes to the engineer


def test_layers_that_are_not_torch_layers_or_take_no_input_size_are_left_alone() -> None:
    own = "class Linear:\n    pass\n\nx = Linear(3, 4)\ny = nn.ReLU()\nz = nn.Linear(*sizes)\n"
    assert infer_input_sizes(own) == (own, [])
    assert infer_input_sizes("def f(:\n") == ("def f(:\n", [])


# What Qwen2.5-Coder-1.5B wrote in a discovery run: a model class, no super().__init__(), no build_model.
CLASS_ONLY = '''import math

import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, channels: int):
        """One convolution."""
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x))


class AdaptiveNet(nn.Module):
    def __init__(self, input_shape: tuple[int, ...], num_classes: int, window_size=10):
        in_channels, length = input_shape  # (1, 40)
        self.stem = nn.Conv1d(in_channels, 25, kernel_size=5, padding=2)
        self.body = Block(25)
        self.head = nn.Linear(25 * length, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).flatten(1))
'''


def _build(code: str, *args: object) -> object:
    namespace: dict[str, object] = {}
    exec(code, namespace)
    return namespace["build_model"](*args)  # type: ignore[operator]


def test_a_model_class_without_super_init_or_build_model_is_mended_into_a_working_file() -> None:
    import torch

    code, note = mend_draft(CLASS_ONLY)
    assert note == "super().__init__() in Block, AdaptiveNet; build_model for AdaptiveNet"
    assert '        """One convolution."""\n        super().__init__()\n        self.conv' in code
    model = _build(code, (1, 40), 10)
    assert isinstance(model, torch.nn.Module) and tuple(model(torch.zeros(2, 1, 40)).shape) == (2, 10)
    assert mend_draft(code) == (code, None)  # nothing left to mend


def test_the_builder_passes_what_the_constructor_parameters_are_named_for() -> None:
    import torch

    mlp = """from torch import nn


class MLP(nn.Module):
    def __init__(self, input_size, hidden=32, n_classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(input_size, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))

    def forward(self, x):
        return self.net(x)
"""
    code, note = mend_draft(mlp)
    assert "return MLP(math.prod(input_shape))" in code and "import math" in code and note is not None
    model = _build(code, (1, 40), 10)
    assert isinstance(model, torch.nn.Module) and tuple(model(torch.zeros(2, 1, 40)).shape) == (2, 10)


def test_no_builder_is_guessed_when_the_model_class_or_its_arguments_are_unclear() -> None:
    two_roots = "from torch import nn\n\nclass A(nn.Module):\n    pass\n\nclass B(nn.Module):\n    pass\n"
    assert add_missing_builder(two_roots) == (two_roots, None)
    odd = "from torch import nn\n\nclass A(nn.Module):\n    def __init__(self, depth_factor):\n        pass\n"
    assert add_missing_builder(odd) == (odd, None)
    has = "def build_model(s, n):\n    pass\n\nclass A(nn.Module):\n    pass\n"
    assert add_missing_builder(has) == (has, None)
    calls = "from torch import nn\n\nclass A(nn.Module):\n    def __init__(self):\n        nn.Module.__init__(self)\n"
    assert add_super_init(calls) == (calls, [])


def test_a_torch_nn_layer_spelt_in_the_wrong_case_is_written_as_torch_spells_it() -> None:
    from agentnas.agents.fixups import fix_nn_case, mend_draft

    code = ("import torch\nfrom torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
            "    return nn.Sequential(nn.Conv1d(1, 8, 3), nn.Glu(dim=1), torch.nn.Relu(), nn.Flatten(),  # nn.Glu\n"
            "                         nn.LazyLinear(num_classes), nn.Shear())\n")
    fixed, fixes = fix_nn_case(code)
    assert fixes == ["Glu -> GLU", "Relu -> ReLU"]
    assert "nn.GLU(dim=1), torch.nn.ReLU()" in fixed and "# nn.Glu" in fixed  # comments stay as written
    assert "nn.Shear()" in fixed  # no such layer in any case: the engineer's
    assert fix_nn_case(fixed) == (fixed, [])
    assert mend_draft(code)[1] == "nn.Glu -> GLU; nn.Relu -> ReLU"


def test_another_librarys_keyword_names_are_renamed_to_the_torch_layers_own() -> None:
    from agentnas.agents.fixups import fix_nn_keywords, mend_draft

    code = ("import torch\nfrom torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
            "    return nn.Sequential(nn.Conv1d(in_channels=1, out_channels=8, kernel=3, strides=1),  # kernel=3\n"
            "                         nn.BatchNorm1d(in_channels=8, epsilon=1e-5), nn.ReLU(inplace=True),\n"
            "                         nn.Dropout(rate=0.1), nn.Flatten(), nn.LazyLinear(num_classes),\n"
            "                         nn.Softmax(axis=1))\n")
    fixed, fixes = fix_nn_keywords(code)
    assert fixes == ["Conv1d kernel -> kernel_size", "Conv1d strides -> stride", "BatchNorm1d in_channels -> "
                     "num_features", "BatchNorm1d epsilon -> eps", "Dropout rate -> p", "Softmax axis -> dim"]
    assert "# kernel=3" in fixed and fix_nn_keywords(fixed) == (fixed, [])
    namespace: dict[str, object] = {}
    exec(compile(fixed, "candidate", "exec"), namespace)  # noqa: S102 - our own test file, not a candidate's
    model = namespace["build_model"]((1, 40), 10)  # type: ignore[operator]
    assert model(torch.randn(2, 1, 40)).shape == (2, 10)
    assert mend_draft(code)[1] == "keywords " + "; ".join(fixes)


def test_a_keyword_without_a_free_twin_is_left_for_the_sandbox() -> None:
    from agentnas.agents.fixups import fix_nn_keywords

    # in_features is already given; nn.Shear and a layer's own keyword are not touched
    code = "from torch import nn\nx = nn.Linear(in_features=3, input_dim=4, out_features=2)\ny = nn.Shear(axis=1)\n"
    assert fix_nn_keywords(code) == (code, [])
    assert fix_nn_keywords("def broken(:\n") == ("def broken(:\n", [])


RESIDUAL_PADDING = """import torch
from torch import nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(32, 32, kernel_size=3, padding=8, dilation=2),  # copied padding
                                  nn.Conv1d(32, 32, 5), nn.LazyConv1d(32, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


def build_model(input_shape, num_classes):
    return nn.Sequential(nn.Conv1d(1, 32, 3, padding=1), Block(), nn.Conv1d(32, 32, 3, 2, 0), Block(),
                         nn.Conv1d(32, 16, kernel_size=4),
                         nn.Flatten(), nn.LazyLinear(num_classes))
"""


def test_a_sum_of_mismatched_lengths_gets_paddings_that_keep_lengths_and_nothing_else_changes() -> None:
    fixed, notes = same_padding(RESIDUAL_PADDING)
    assert notes == ["padding 8 -> 2", "padding 0 -> 2"]
    assert "padding=2, dilation=2),  # copied padding" in fixed and "nn.Conv1d(32, 32, 5, padding=2)" in fixed
    assert "nn.Conv1d(32, 32, 3, 2, 0)" in fixed  # strided: shortening is meant
    assert "kernel_size=4)" in fixed  # an even kernel cannot keep a length: left
    assert same_padding(fixed) == (fixed, [])
    namespace: dict[str, object] = {}
    exec(compile(fixed, "candidate", "exec"), namespace)  # noqa: S102 - our own test file, not a candidate's
    model = namespace["build_model"]((1, 40), 10)  # type: ignore[operator]
    assert model(torch.randn(2, 1, 40)).shape == (2, 10)


def test_paddings_are_mended_only_when_tensors_did_not_match() -> None:
    message = "RuntimeError: The size of tensor a (40) must match the size of tensor b (52) at non-singleton dim 2"
    code, note = mend_shapes(RESIDUAL_PADDING, message)
    assert note == ("input sizes inferred (LazyConv1d); "
                    "padding keeps lengths (2 convs: padding 8 -> 2, padding 0 -> 2)")
    assert "padding=2, dilation=2" in code
    assert mend_shapes(code, message) == (code, None)  # nothing left to mend: the engineer's
    lazy, note = mend_shapes(RESIDUAL_PADDING, "mat1 and mat2 shapes cannot be multiplied (2x96 and 64x10)")
    assert note == "input sizes inferred (LazyConv1d)" and "padding=8" in lazy


def test_a_grammar_helper_called_through_nn_is_the_helper_and_comes_back_defined() -> None:
    code = ("import torch\nfrom torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
            "    return nn.Sequential(nn.Conv1d(1, 8, 3, padding=1),\n"
            "                         nn.Residual(nn.Sequential(nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())),\n"
            "                         nn.GlobalPool('avg'), nn.LazyLinear(num_classes))\n")
    fixed, note = mend_draft(code)
    assert note is not None and "nn.GlobalPool -> GlobalPool (the grammar's)" in note
    assert "the grammar's Residual, GlobalPool kept" in note
    assert "nn.Residual" not in fixed and "class Residual(nn.Module):" in fixed
    namespace: dict[str, object] = {}
    exec(compile(fixed, "candidate", "exec"), namespace)  # noqa: S102 - our own test file, not a candidate's
    assert namespace["build_model"]((1, 40), 10)(torch.randn(2, 1, 40)).shape == (2, 10)  # type: ignore[operator]


def test_layers_listed_after_the_logits_move_before_the_head() -> None:
    from agentnas.agents.shape_mends import layers_before_head

    code = ("from torch import nn\n\n\ndef build_model(input_shape, num_classes):\n"
            "    return nn.Sequential(\n        nn.Conv1d(1, 16, 3, padding=1),\n        nn.ReLU(),\n"
            "        nn.Flatten(),\n        nn.Linear(16 * 40, num_classes),\n"
            "        nn.Sequential(nn.Conv1d(16, 16, 3, padding=1), nn.ReLU()),  # the new block\n    )\n")
    fixed, moved = layers_before_head(code)
    assert moved == 1 and layers_before_head(fixed) == (fixed, 0)
    order = [fixed.index(x) for x in ("nn.Conv1d(1, 16", "nn.Sequential(nn.Conv1d(16", "nn.Flatten()", "nn.Linear(")]
    assert order == sorted(order)
    code, note = mend_shapes(code, "forward returned (2, 16, 10); expected (2, 10)")
    assert note == "layers after the logits moved before the head (1); input sizes inferred (LazyConv1d, LazyLinear)"
    namespace: dict[str, object] = {}
    exec(compile(code, "candidate", "exec"), namespace)  # noqa: S102 - our own test file, not a candidate's
    assert namespace["build_model"]((1, 40), 10)(torch.randn(2, 1, 40)).shape == (2, 10)  # type: ignore[operator]
    last = ("def build_model(input_shape, num_classes):\n"
            "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))\n")
    assert layers_before_head(last) == (last, 0)
