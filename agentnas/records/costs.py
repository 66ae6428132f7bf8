"""What a candidate costs to deploy, measured on the trusted side from its exported ONNX graph
(agentnas.encode.costs): parameters, multiply-accumulates, peak activation memory, serialized
size and inference latency. Their directions are in agentnas.records.objectives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MB = 2**20  # sizes are reported in MiB, written "MB" as the CLI does elsewhere


class Latency(BaseModel):
    """Inference time of one batch size through one engine: the median of `runs` timed runs
    after `warmup` untimed ones, with the spread of those runs."""

    model_config = ConfigDict(frozen=True)

    # ONNX Runtime on CPU (the exported graph), or torch on the evaluation device (the traced model)
    engine: Literal["onnxruntime-cpu", "torch-cpu", "torch-cuda"] = "onnxruntime-cpu"
    batch: int = Field(gt=0)
    median_ms: float = Field(ge=0)
    q1_ms: float = Field(ge=0, description="25th percentile")
    q3_ms: float = Field(ge=0, description="75th percentile")
    mad_ms: float = Field(ge=0, description="median absolute deviation from the median")
    min_ms: float = Field(ge=0)
    runs: int = Field(gt=0)
    warmup: int = Field(ge=0)
    threads: int = Field(default=1, gt=0)

    @property
    def spread(self) -> float:
        """Interquartile range over the median: the run-to-run variation, unit-free."""
        return (self.q3_ms - self.q1_ms) / self.median_ms if self.median_ms > 0 else 0.0


class Costs(BaseModel):
    """A candidate's deployment costs, from its exported graph (batch 1, as exported).

    `params` counts the elements of floating-point initializers (weights and float buffers
    such as BatchNorm statistics); `macs` the multiply-accumulates of agentnas.encode.features
    (`macs_complete` False when some shape was unknown, so the count is a lower bound);
    `peak_activation_bytes` the peak, over a topological order of the graph, of the bytes of
    intermediate tensors alive at once (weights excluded; `peak_complete` False when some
    tensor's shape or type was unknown and counted as nothing); `size_bytes` the ONNX file.
    `latency` is measured through ONNX Runtime on CPU in a confined process, one entry per
    batch size, only when asked, and through torch on the evaluation device where the model's
    trace was asked for too (`latency_error` says why an asked measurement is missing)."""

    model_config = ConfigDict(frozen=True)

    params: int = Field(ge=0)
    macs: int = Field(ge=0)
    macs_complete: bool = True
    peak_activation_bytes: int = Field(ge=0)
    peak_complete: bool = True
    size_bytes: int = Field(ge=0)
    latency: list[Latency] = Field(default_factory=list)
    latency_error: str | None = None

    @property
    def size_mb(self) -> float:
        return self.size_bytes / MB

    @property
    def peak_mem_mb(self) -> float:
        return self.peak_activation_bytes / MB

    def latency_at(self, batch: int = 1, engine: str = "onnxruntime-cpu") -> Latency | None:
        """The figure of `batch` through `engine` ("torch": torch on whichever device it ran)."""
        return next((x for x in self.latency if x.batch == batch
                     and (x.engine == engine or x.engine.startswith(f"{engine}-"))), None)

    @property
    def latency_ms(self) -> float | None:
        """Median batch-1 latency through ONNX Runtime on CPU, milliseconds (None when not measured)."""
        one = self.latency_at(1)
        return one.median_ms if one is not None else None

    @property
    def torch_latency_ms(self) -> float | None:
        """Median batch-1 latency through torch on the evaluation device, milliseconds."""
        one = self.latency_at(1, "torch")
        return one.median_ms if one is not None else None

    def value(self, name: str) -> float | None:
        """The figure of the cost metric `name` (see COST_METRICS), None when not measured."""
        figures: dict[str, float | None] = {
            "latency_ms": self.latency_ms, "torch_latency_ms": self.torch_latency_ms,
            "params": float(self.params), "macs": float(self.macs),
            "size_mb": self.size_mb, "peak_mem_mb": self.peak_mem_mb}
        if name not in figures:
            raise KeyError(f"no cost named {name!r}; known: {', '.join(figures)}")
        return figures[name]


class CostLimits(BaseModel):
    """The user's hard limits on a candidate's costs (`--max-params`, `--max-macs`, `--max-size-mb`,
    `--max-latency-ms`); None: no limit. `exceeded` names the first one a candidate breaks.

    MACs counted with some shape unknown are a lower bound: over the limit is then certain,
    under it is not, so such a graph passes (the offline grammar bounds its own exactly)."""

    model_config = ConfigDict(frozen=True)

    max_params: int | None = Field(default=None, gt=0)
    max_macs: int | None = Field(default=None, gt=0)
    max_size_mb: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    max_latency_ms: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    def exceeded(self, costs: Costs, params: int | None = None) -> str | None:
        """Why `costs` break a limit (the measured figure and the limit), or None. `params` is the
        trainable-parameter count of the check, where known (the graph's count adds buffers)."""
        n = params if params is not None else costs.params
        if self.max_params is not None and n > self.max_params:
            return f"{n:,} parameters exceed the limit of {self.max_params:,} (--max-params)"
        if self.max_macs is not None and costs.macs > self.max_macs:
            return f"{'' if costs.macs_complete else 'at least '}{costs.macs:,} multiply-adds exceed the limit of " \
                   f"{self.max_macs:,} (--max-macs)"
        if self.max_size_mb is not None and costs.size_mb > self.max_size_mb:
            return f"the exported model is {costs.size_mb:.3g} MB, over the limit of {self.max_size_mb:g} MB " \
                   "(--max-size-mb)"
        one = costs.latency_at(1)
        if self.max_latency_ms is not None and one is not None and one.median_ms > self.max_latency_ms:
            return f"batch-1 latency is {one.median_ms:.3g} ms (median of {one.runs} runs, ONNX Runtime CPU, " \
                   f"spread {one.spread:.0%}), over the limit of {self.max_latency_ms:g} ms (--max-latency-ms)"
        return None
