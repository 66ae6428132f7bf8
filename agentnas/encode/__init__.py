"""ONNX graph -> ONNX-Net style text -> vector, for memory, novelty and the value model."""

from agentnas.encode.features import FEATURE_NAMES, OP_VOCAB, GraphFeatures, graph_features
from agentnas.encode.onnx_load import LoadLimits, OnnxLoadError, infer_shapes_or_keep, load_onnx
from agentnas.encode.text import onnx_to_text

__all__ = [
    "FEATURE_NAMES", "OP_VOCAB", "GraphFeatures", "LoadLimits", "OnnxLoadError", "graph_features",
    "infer_shapes_or_keep", "load_onnx", "onnx_to_text",
]
