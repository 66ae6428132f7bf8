"""Search spaces: benchmark-space builders that write candidates as source code, and their tables."""

from agentnas.space.data import (
    BENCH_DATA_ENV,
    MacroRecord,
    Nb201Dataset,
    Nb201Record,
    bench_data_dir,
    load_macro,
    load_nb201,
)
from agentnas.space.macro import MACRO_CHOICES, MACRO_LAYERS, macro_source, parse_macro
from agentnas.space.nb201 import NB201_OPS, Nb201Cell, Nb201Edge, nb201_source, parse_nb201

__all__ = [
    "BENCH_DATA_ENV", "MACRO_CHOICES", "MACRO_LAYERS", "NB201_OPS", "MacroRecord", "Nb201Cell", "Nb201Dataset",
    "Nb201Edge", "Nb201Record", "bench_data_dir", "load_macro", "load_nb201", "macro_source", "nb201_source",
    "parse_macro", "parse_nb201",
]
