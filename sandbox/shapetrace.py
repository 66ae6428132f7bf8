"""Where a forward pass breaks: the shapes flowing through a model's layers, for failure messages.

"mat1 and mat2 shapes cannot be multiplied (2x300 and 125x10)" does not say which layer or
why; the engineer (often a small model) then guesses. Running the same input again with hooks
on every leaf module gives the path the tensor took, layer by layer, up to the one that
raised or to the wrong output: enough to fix a hard-coded size. Runs inside the sandbox on
the candidate's own model; anything that goes wrong here only loses the trace.
Imports only stdlib and torch.
"""

from __future__ import annotations

from typing import Any

import torch

_MAX_LINES = 12     # the layers just before the failure tell the story; the prompt has a budget
_MAX_REPR = 90      # a module's repr, cut: Conv1d(25, 25, kernel_size=(3,), stride=(2,), ...)


def _shape(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        return "(" + ", ".join(str(d) for d in v.shape) + ")"
    if isinstance(v, tuple | list) and v:
        return "[" + ", ".join(_shape(x) for x in v[:3]) + (", …" if len(v) > 3 else "") + "]"
    return type(v).__name__


def _describe(module: torch.nn.Module) -> str:
    text = repr(module).replace("\n", " ")
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 1] + "…"


def layer_trace(model: torch.nn.Module, x: torch.Tensor) -> str:
    """Lines `name  Module(...)  in -> out` for the leaf layers a forward pass of `x` went through,
    the failing one marked; "" when the model has no leaf layers or the trace itself fails."""
    rows: list[str] = []
    entered: list[tuple[str, torch.nn.Module, str]] = []
    handles = []

    def before(name: str) -> Any:
        def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            entered.append((name, module, _shape(args[0] if len(args) == 1 else list(args))))
        return hook

    def after(name: str) -> Any:
        def hook(module: torch.nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if entered and entered[-1][0] == name:
                _, _, shape_in = entered.pop()
                rows.append(f"  {name or '(model)'}  {_describe(module)}  {shape_in} -> {_shape(out)}")
        return hook

    try:
        leaves = [(n, m) for n, m in model.named_modules() if not any(True for _ in m.children())]
        if not leaves:
            return ""
        for name, module in leaves:
            handles.append(module.register_forward_pre_hook(before(name)))
            handles.append(module.register_forward_hook(after(name)))
        failed = ""
        try:
            with torch.no_grad():
                out = model(x)
            failed = f"  output {_shape(out)}"
        except Exception as e:  # the failure the caller already reports; here it only marks the layer
            if entered:
                name, module, shape_in = entered[-1]
                failed = f"  {name or '(model)'}  {_describe(module)}  {shape_in} -> FAILED ({type(e).__name__})"
            else:
                failed = f"  between layers: {type(e).__name__} (in the model's own forward code)"
    except Exception:  # noqa: BLE001 - the trace is a courtesy
        return ""
    finally:
        for h in handles:
            h.remove()
    shown = rows[-_MAX_LINES:]
    skipped = len(rows) - len(shown)
    head = [f"  … {skipped} earlier layers"] if skipped else []
    return "\n".join([f"Layer shapes on input {_shape(x)}:", *head, *shown, failed])


def traced(model: torch.nn.Module, x: torch.Tensor) -> str:
    """The trace as lines to append to a failure message ("" when there is none)."""
    text = layer_trace(model, x)
    return "\n" + text if text else ""
