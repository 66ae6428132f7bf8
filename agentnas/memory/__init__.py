"""Experiment memory: a Chroma store (embedded or server), an in-process hnswlib hot index,
novelty verdicts, seed knowledge and retrieval for prompts.

Names are re-exported lazily (PEP 562): `agentnas memory --help` and the other commands
import this package, and should not pay for onnx, chromadb or the encoder until used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentnas.memory.arch import (
        ARCH_DIM,
        ARCH_VERSION,
        GraphDescription,
        arch_vector,
        describe_files,
        describe_onnx,
    )
    from agentnas.memory.base import EmptyStore, Hit, MemoryFilter, MemoryStore, SearchBy
    from agentnas.memory.chroma import ChromaStore, exact_similar
    from agentnas.memory.embedded import EmbeddedStore
    from agentnas.memory.hot import HotIndex
    from agentnas.memory.lock import LockHolder, MemorySpecError, MemoryStoreError, StoreLockedError, read_holder
    from agentnas.memory.novelty import NEAR_DUPLICATE_THRESHOLD, NoveltyIndex, NoveltyVerdict, judge
    from agentnas.memory.registry import check_memory_spec, default_memory_path, open_memory
    from agentnas.memory.retrieve import PromptMemory, retrieve_for_prompt, similar_experiments
    from agentnas.memory.seed import Insight, SeedKnowledge, load_seed_knowledge, read_insights
    from agentnas.memory.text import TextEmbedder, minilm_embedder
    from agentnas.memory.transfer import TransferError, export_jsonl, import_jsonl, read_jsonl

_MODULES = {
    "arch": ("ARCH_DIM", "ARCH_VERSION", "GraphDescription", "arch_vector", "describe_files", "describe_onnx"),
    "base": ("EmptyStore", "Hit", "MemoryFilter", "MemoryStore", "SearchBy"),
    "chroma": ("ChromaStore", "exact_similar"),
    "embedded": ("EmbeddedStore",),
    "hot": ("HotIndex",),
    "lock": ("LockHolder", "MemorySpecError", "MemoryStoreError", "StoreLockedError", "read_holder"),
    "novelty": ("NEAR_DUPLICATE_THRESHOLD", "NoveltyIndex", "NoveltyVerdict", "judge"),
    "registry": ("check_memory_spec", "default_memory_path", "open_memory"),
    "retrieve": ("PromptMemory", "retrieve_for_prompt", "similar_experiments"),
    "seed": ("Insight", "SeedKnowledge", "load_seed_knowledge", "read_insights"),
    "text": ("TextEmbedder", "minilm_embedder"),
    "transfer": ("TransferError", "export_jsonl", "import_jsonl", "read_jsonl"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}
__all__ = [
    "ARCH_DIM", "ARCH_VERSION", "ChromaStore", "EmbeddedStore", "EmptyStore", "GraphDescription", "Hit", "HotIndex",
    "Insight", "LockHolder", "MemoryFilter", "MemorySpecError", "MemoryStore", "MemoryStoreError",
    "NEAR_DUPLICATE_THRESHOLD", "NoveltyIndex", "NoveltyVerdict", "PromptMemory", "SearchBy", "SeedKnowledge",
    "StoreLockedError", "TextEmbedder", "TransferError", "arch_vector", "check_memory_spec",
    "default_memory_path", "describe_files", "describe_onnx", "exact_similar", "export_jsonl", "import_jsonl",
    "judge", "load_seed_knowledge", "minilm_embedder", "open_memory", "read_holder", "read_insights", "read_jsonl",
    "retrieve_for_prompt", "similar_experiments",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'agentnas.memory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"agentnas.memory.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
