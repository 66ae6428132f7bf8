"""A module a model's code uses but forgot to import is added before the sandbox check."""

from __future__ import annotations

from agentnas.agents.fixups import add_missing_imports, infer_input_sizes

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
