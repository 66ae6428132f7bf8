"""Search spaces: the architecture grammar and its offline proposer; benchmark-space builders that
write candidates as source code, and their tables."""

from agentnas.space.data import (
    BENCH_DATA_ENV,
    MacroRecord,
    Nb201Dataset,
    Nb201Record,
    bench_data_dir,
    load_macro,
    load_nb201,
)
from agentnas.space.describe import describe, describe_arch
from agentnas.space.grammar import Arch, arch_from_json, arch_from_source, arch_hash, arch_json, canonical_arch
from agentnas.space.keywords import KEYWORDS, KeywordBias, keyword_bias
from agentnas.space.macro import MACRO_CHOICES, MACRO_LAYERS, macro_source, parse_macro
from agentnas.space.nb201 import NB201_OPS, Nb201Cell, Nb201Edge, nb201_source, parse_nb201
from agentnas.space.proposer import (
    BaseProposer,
    Hypothesis,
    OfflineProposer,
    Proposal,
    ProposerConfig,
    as_arch,
    seed_archs,
)
from agentnas.space.render import render
from agentnas.space.repair import repair
from agentnas.space.shapes import ArchStats, ShapeError, analyse

__all__ = [
    "BENCH_DATA_ENV", "MACRO_CHOICES", "MACRO_LAYERS", "NB201_OPS", "MacroRecord", "Nb201Cell", "Nb201Dataset",
    "Nb201Edge", "Nb201Record", "bench_data_dir", "load_macro", "load_nb201", "macro_source", "nb201_source",
    "parse_macro", "parse_nb201",
    # the grammar and the offline proposer
    "KEYWORDS", "Arch", "ArchStats", "BaseProposer", "Hypothesis", "OfflineProposer", "Proposal", "ProposerConfig",
    "ShapeError", "KeywordBias", "analyse", "arch_from_json", "arch_from_source", "arch_hash", "arch_json", "as_arch",
    "canonical_arch", "describe", "describe_arch", "render", "repair", "keyword_bias", "seed_archs",
]
