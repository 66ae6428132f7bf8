"""A run's cost check: every checked candidate's deployment costs measured from its exported
graph (agentnas.encode.costs), kept beside the graph for its experiment record, and held
against the user's limits before anything is trained.

Latency costs a confined process per candidate, so `[costs] latency = "auto"` measures it only
when the run needs it: a `--max-latency-ms` limit or a `latency_ms` objective."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentnas.config import CostsConfig
from agentnas.encode.costs import measure_costs, write_costs_beside
from agentnas.encode.onnx_load import OnnxLoadError
from agentnas.evaluator.isolation import Isolation
from agentnas.records import COST_METRICS, CostLimits, Costs, Failure, FailureKind
from agentnas.run.settings import RunError, RunOptions, flag


@dataclass(frozen=True)
class CostCheck:
    config: CostsConfig
    limits: CostLimits
    latency: bool
    isolation: Isolation | None = None
    torch_device: str | None = None  # also timed through torch there (the check's traced model.ts)

    def measure(self, onnx_path: str | Path, latency: bool = False) -> Costs | Failure:
        """The graph's costs (also written beside it), or why they cannot be measured. `latency`:
        measure it even where the run's own settings do not (a latency limit set by chat), unless
        `[costs] latency = "never"`."""
        timed = self.latency or (latency and self.config.latency != "never" and self.isolation is not None)
        try:
            costs = measure_costs(onnx_path, self.config, isolation=self.isolation if timed or self.torch_device
                                  else None, latency=timed, torch_device=self.torch_device)
        except OnnxLoadError as e:
            return Failure(kind=FailureKind.EXPORT, message=f"cannot measure the graph's costs: {e}")
        write_costs_beside(onnx_path, costs)
        return costs

    def judge(self, costs: Costs, params: int | None = None, chat: CostLimits | None = None) -> Failure | None:
        """The failure of a candidate whose measured costs break a limit, else None. `chat`: the
        limits the user set by chat, held beside the run's own (a chat latency limit that
        could not be measured is not held: `[costs] latency = "never"`)."""
        if self.limits.max_latency_ms is not None and costs.latency_at(1) is None:
            return Failure(kind=FailureKind.EXPORT, message="the batch-1 latency that --max-latency-ms needs could "
                                                            f"not be measured: {costs.latency_error or 'no figure'}")
        why = self.limits.exceeded(costs, params)
        if why is None and chat is not None:
            why = chat.exceeded(costs, params)
            why = why.replace("(--max-", "(chat constraint, like --max-") if why is not None else None
        return Failure(kind=FailureKind.OVER_BUDGET, message=why) if why is not None else None


def wants_torch_latency(config: CostsConfig, options: RunOptions) -> bool:
    """Whether the check traces each model for its latency through torch (`[costs] torch`)."""
    wanted = "torch_latency_ms" in (options.objectives or ())
    return config.enabled and (config.torch == "always" or (config.torch == "auto" and wanted))


def cost_check(config: CostsConfig, options: RunOptions, isolation: Isolation | None,
               device: str = "cpu") -> CostCheck | None:
    """The run's cost check (None when `[costs] enabled = false`). RunError when a limit or an
    objective needs a figure the configuration turns off. `device`: the evaluation device, where
    the torch latency is measured."""
    limits = CostLimits(max_params=options.max_params, max_macs=options.max_macs, max_size_mb=options.max_size_mb,
                        max_latency_ms=options.max_latency_ms)
    wants_latency = options.max_latency_ms is not None or "latency_ms" in (options.objectives or ())
    # (--max-params and --max-macs without costs are what they were before: the sandbox's count and
    # the offline proposer's bound)
    needs = [flag(n) for n in ("max_size_mb", "max_latency_ms") if getattr(options, n) is not None]
    needs += [f"objective {o}" for o in options.objectives or () if o in COST_METRICS]
    if not config.enabled:
        if needs:
            raise RunError(f"{needs[0]} needs the candidates' costs, which [costs] enabled = false turns off")
        return None
    if "torch_latency_ms" in (options.objectives or ()) and config.torch == "never":
        raise RunError("objective torch_latency_ms needs the latency through torch, which [costs] torch = "
                       "\"never\" turns off")
    if wants_latency and config.latency == "never":
        what = flag("max_latency_ms") if options.max_latency_ms is not None else "objective latency_ms"
        raise RunError(f"{what} needs the candidates' latency, which [costs] latency = \"never\" turns off")
    latency = config.latency == "always" or (config.latency == "auto" and wants_latency)
    # The isolation is kept even when latency is not measured: a chat latency limit may ask for it.
    return CostCheck(config=config, limits=limits, latency=latency, isolation=isolation,
                     torch_device=device if wants_torch_latency(config, options) else None)
