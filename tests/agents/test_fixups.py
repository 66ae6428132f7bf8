"""A module a model's code uses but forgot to import is added before the sandbox check."""

from __future__ import annotations

from agentnas.agents.fixups import add_missing_imports

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
