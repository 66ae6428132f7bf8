"""`agentnas bench latency-table`: NB201 networks timed on this machine, resumable, read back
per cell for `bench search --objectives val_accuracy,latency_ms`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agentnas.bench.latency_table import (
    LatencyTableError,
    build_table,
    load_table,
    machine,
    networks,
    spread,
    table_file,
)
from agentnas.bench.pareto import run_pareto_bench
from agentnas.bench.search import BenchError
from agentnas.config import CostsConfig

FAST = CostsConfig(repeats=3, warmup=1)


def test_the_table_measures_what_is_missing_and_keeps_this_machines_rows(bench_data: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    first = build_table("imagenet16", tmp_path, FAST, limit=2, log=lines.append)
    assert (first["measured"], first["this_call"], first["complete"]) == (2, 2, False)
    path = table_file(tmp_path, "imagenet16")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(r["median_ms"] > 0 and r["runs"] == 3 and r["machine"] == machine() for r in rows)
    # a torn last line and another machine's row are not this machine's figures
    with path.open("a") as f:
        f.write(json.dumps({**rows[0], "network": "other", "machine": "elsewhere"}) + "\n" + '{"network": "|no')
    again = build_table("imagenet16", tmp_path, FAST, limit=1)
    assert (again["measured"], again["this_call"]) == (3, 1)  # the first two are not measured again
    assert any("measuring 2" in line for line in lines)
    with pytest.raises(LatencyTableError, match="lacks .* of 10405 networks; run `agentnas bench latency-table"):
        load_table("imagenet16", tmp_path)
    with pytest.raises(LatencyTableError, match="no NB201 data set"):
        table_file(tmp_path, "mnist")


def test_a_complete_table_gives_every_cell_its_networks_latency_for_a_front_search(bench_data: Path,
                                                                                   tmp_path: Path) -> None:
    cells = networks("cifar10")
    distinct = sorted(set(cells.values()))
    path = table_file(tmp_path, "cifar10")
    path.parent.mkdir(parents=True)
    # a synthetic table (measuring 10,405 networks takes hours): latency grows with the convs
    with path.open("w") as f:
        for n in distinct:
            ms = 0.2 + n.count("conv_3x3") * 0.9 + n.count("conv_1x1") * 0.1
            f.write(json.dumps({"network": n, "median_ms": float(ms), "machine": machine()}) + "\n")
    table = load_table("cifar10", tmp_path)
    assert len(table) == 15_625 and len({table[k] for k, n in cells.items() if n == distinct[0]}) == 1
    report = run_pareto_bench("nb201", "cifar10", 20, 2, ["random", "nsga2"], "latency_ms", tmp_path)
    assert report["objectives"] == ["val_accuracy", "latency_ms"]
    assert report["box"]["latency_ms"] == [min(table.values()), max(table.values())]
    with pytest.raises(BenchError, match="latency-table --dataset cifar100"):
        run_pareto_bench("nb201", "cifar100", 20, 1, ["random"], "latency_ms", tmp_path)


def test_remeasure_times_again_only_the_rows_that_spread_wide_and_the_new_row_is_read(bench_data: Path,
                                                                                       tmp_path: Path) -> None:
    build_table("imagenet16", tmp_path, FAST, limit=3)
    path = table_file(tmp_path, "imagenet16")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # the first row as a busy machine measures it: quartiles far apart around a slow median (wider than any real
    # row, which this machine may have measured noisy too: the widest is timed again first)
    noisy = {**rows[0], "median_ms": 50.0, "q1_ms": 1.0, "q3_ms": 5000.0}
    path.write_text("".join(json.dumps(r) + "\n" for r in [noisy, *rows[1:]]))
    lines: list[str] = []
    report = build_table("imagenet16", tmp_path, FAST, limit=1, remeasure=0.5, log=lines.append)
    assert report["this_call"] == 1 and report["measured"] == 3
    assert any(re.search(r"measuring 1 \(\d+ again: spread above 0.5\)", line) for line in lines)
    last = json.loads(path.read_text().splitlines()[-1])
    assert last["network"] == noisy["network"] and last["median_ms"] != 50.0
    # `noisy` counts the rows read back whose spread is still wide (a loaded machine's may well be)
    read = {r["network"]: r for r in map(json.loads, path.read_text().splitlines())}
    assert report["noisy"] == sum(spread(r) > 0.5 for r in read.values())
