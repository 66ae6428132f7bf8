"""Costs and objectives as records: every objective knows its direction, limits name the
measured figure, the `[costs]` configuration is checked, and records written before costs
existed still load."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentnas.config import ConfigError, CostsConfig, load_config
from agentnas.records import (
    COST_METRICS,
    OBJECTIVES,
    CostLimits,
    Costs,
    EvalResult,
    ExperimentEntry,
    ExperimentRecord,
    Latency,
    Metrics,
    objective_value,
    parse_objectives,
)

ONE_MS = Latency(batch=1, median_ms=1.0, q1_ms=0.9, q3_ms=1.2, mad_ms=0.1, min_ms=0.8, runs=30, warmup=5)
COSTS = Costs(params=5000, macs=30000, peak_activation_bytes=3 * 2**20, size_bytes=2**20, latency=[ONE_MS])


def test_every_cost_is_lower_is_better_and_accuracy_higher() -> None:
    assert set(COST_METRICS) == {"latency_ms", "torch_latency_ms", "params", "macs", "size_mb", "peak_mem_mb"}
    assert all(not m.higher_is_better for m in COST_METRICS.values())
    assert OBJECTIVES["val_accuracy"].higher_is_better and not OBJECTIVES["val_loss"].higher_is_better
    faster = OBJECTIVES["latency_ms"]
    assert faster.better(1.0, 2.0) and faster.best([3.0, 1.0, 2.0]) == 1.0


def test_each_latency_is_read_from_its_own_engine() -> None:
    on_torch = Latency(engine="torch-cuda", batch=1, median_ms=0.2, q1_ms=0.2, q3_ms=0.2, mad_ms=0.0, min_ms=0.2,
                       runs=30, warmup=5)
    both = COSTS.model_copy(update={"latency": [on_torch, ONE_MS]})
    assert (both.latency_ms, both.torch_latency_ms, both.value("torch_latency_ms")) == (1.0, 0.2, 0.2)
    assert COSTS.torch_latency_ms is None and both.latency_at(1, "torch-cuda") == on_torch
    assert Costs.model_validate_json(both.model_dump_json()) == both


def test_objectives_parse_in_order_and_refuse_unknown_repeated_or_empty_names() -> None:
    assert parse_objectives("val_accuracy, latency_ms") == ("val_accuracy", "latency_ms")
    assert parse_objectives(["size_mb"]) == ("size_mb",)
    with pytest.raises(ValueError, match="unknown objective 'speed'; known: val_accuracy"):
        parse_objectives("val_accuracy,speed")
    with pytest.raises(ValueError, match="'params' is given twice"):
        parse_objectives("params,val_accuracy,params")
    with pytest.raises(ValueError, match="separated by commas"):
        parse_objectives("val_accuracy,,params")


def test_an_objective_reads_its_figure_from_metrics_or_costs_and_none_where_unmeasured() -> None:
    metrics = Metrics(val_accuracy=0.9, test_accuracy=0.8)
    assert objective_value("val_accuracy", metrics, None) == 0.9
    assert objective_value("latency_ms", metrics, COSTS) == 1.0
    assert objective_value("size_mb", None, COSTS) == 1.0
    assert objective_value("peak_mem_mb", None, COSTS) == 3.0
    assert objective_value("latency_ms", metrics, COSTS.model_copy(update={"latency": []})) is None
    assert objective_value("val_accuracy", None, COSTS) is None


def test_limits_name_the_measured_figure_and_the_flag_and_pass_what_is_within() -> None:
    assert CostLimits(max_params=5000, max_macs=30_000, max_size_mb=1.0, max_latency_ms=1.0).exceeded(COSTS) is None
    why = CostLimits(max_latency_ms=0.5).exceeded(COSTS)
    assert why is not None and "1 ms" in why and "0.5 ms" in why and "--max-latency-ms" in why and "30 runs" in why
    why = CostLimits(max_size_mb=0.5).exceeded(COSTS)
    assert why is not None and "1 MB" in why and "--max-size-mb" in why
    why = CostLimits(max_params=4999).exceeded(COSTS)
    assert why is not None and "5,000 parameters" in why and "4,999" in why
    why = CostLimits(max_macs=20_000).exceeded(COSTS)
    assert why is not None and why.startswith("30,000 multiply-adds exceed the limit of 20,000 (--max-macs)")
    why = CostLimits(max_macs=20_000).exceeded(COSTS.model_copy(update={"macs_complete": False}))
    assert why is not None and why.startswith("at least 30,000 multiply-adds")
    # the check's trainable count wins over the graph's (which adds buffers)
    assert CostLimits(max_params=4999).exceeded(COSTS, params=4000) is None
    # an unmeasured latency breaks no latency limit here (the run's cost check refuses it instead)
    assert CostLimits(max_latency_ms=0.5).exceeded(COSTS.model_copy(update={"latency": []})) is None


def test_records_written_before_costs_load_without_them() -> None:
    assert EvalResult.model_validate({"path": "m.py", "status": "ok"}).costs is None
    assert ExperimentEntry.model_validate({"node_id": "i0-c0", "status": "ok"}).costs is None
    assert ExperimentRecord.model_validate_json('{"id": "r/i0-c0", "task": "digits"}').costs is None
    entry = ExperimentEntry.model_validate({"node_id": "i0-c0", "status": "ok", "costs": COSTS.model_dump(mode="json")})
    assert entry.costs == COSTS


def test_the_costs_section_is_checked_and_batch_one_is_always_measured(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTNAS_CONFIG", raising=False)
    good = tmp_path / "good.toml"
    good.write_text("[costs]\nrepeats = 7\nbatch_sizes = [8, 32]\nlatency = \"always\"\n")
    cfg = load_config(good)
    assert cfg.costs == CostsConfig(repeats=7, batch_sizes=(1, 8, 32), latency="always")
    for bad, field in (("repeats = 0", "costs.repeats"), ("batch_sizes = [0]", "costs.batch_sizes"),
                       ("latency = \"sometimes\"", "costs.latency"), ("colour = 1", "costs.colour")):
        path = tmp_path / "bad.toml"
        path.write_text(f"[costs]\n{bad}\n")
        with pytest.raises(ConfigError, match=field):
            load_config(path)
