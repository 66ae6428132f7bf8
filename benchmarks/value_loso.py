"""Leave-one-space-out Kendall τ over NB201, Macro and agentnas's own labelled set.

Two studies on the same architectures (agentnas/value/loso.py):
- shipped: the value model as shipped, scored on every space (it was trained on NB201 and
  Macro, so only its agentnas figure is zero-shot);
- loso: the shipped recipe (`agentnas value pretrain`'s ensemble, prior weight "auto")
  fitted on two spaces and scored on the third, for each of the three.
Each τ is printed beside parameter count, FLOPs and the best single zero-cost proxy on the
same architectures. To compare a predictor variant, write a `Fit` and pass it to
`leave_one_space_out` (see `ensemble_fit`).

    .venv/bin/python benchmarks/value_loso.py --per-space 500
    .venv/bin/python benchmarks/value_loso.py --per-space 200 --members 3 --steps 800 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentnas.paths import default_cache_dir  # noqa: E402
from agentnas.value.labelled import SHIPPED, CollectionError, read_collection  # noqa: E402
from agentnas.value.loso import (  # noqa: E402
    SpaceSet,
    agentnas_set,
    benchmark_set,
    ensemble_fit,
    leave_one_space_out,
    shipped_report,
)
from agentnas.value.zeroshot import ZeroShotPredictor  # noqa: E402


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:+.3f}"


def table(title: str, report: dict[str, Any]) -> str:
    lines = [title, f"{'space':<10}{'n':>6}{'τ':>8}{'heads':>8}{'commit.':>8}{'params':>8}{'FLOPs':>8}"
                    f"  best proxy"]
    for space, r in report.items():
        best = r.get("best_proxy", {})
        mark = " (seen)" if r.get("seen_in_training") else ""
        lines.append(f"{space:<10}{r['n']:>6}{_fmt(r['predictor']['tau']):>8}"
                     f"{_fmt(r.get('heads', {}).get('tau')):>8}{_fmt(r.get('committee', {}).get('tau')):>8}"
                     f"{_fmt(r['params']['tau']):>8}{_fmt(r['flops']['tau']):>8}"
                     f"  {best.get('name', '-')} {_fmt(best.get('tau'))}{mark}")
        for group, tau in r["predictor"].get("groups", {}).items():
            lines.append(f"  {group:<22}τ {tau:+.3f}  params {r['params']['groups'][group]:+.3f}  "
                         f"FLOPs {r['flops']['groups'][group]:+.3f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-space", type=int, default=500, help="NB201 and Macro architectures (seed 1)")
    parser.add_argument("--labelled", type=Path, default=SHIPPED, help="agentnas's labelled set")
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--study", default="shipped,loso")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    try:
        _, rows = read_collection(args.labelled)
    except CollectionError as e:
        parser.error(f"--labelled: {e} (collect one with `agentnas value collect`)")
    sets: list[SpaceSet] = [benchmark_set(s, args.per_space, 1, args.cache_dir) for s in ("nb201", "macro")]
    sets.append(agentnas_set(rows))
    print(f"encoded in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    report: dict[str, Any] = {"sizes": {s.name: len(s) for s in sets}}
    studies = args.study.split(",")
    if "shipped" in studies:
        report["shipped"] = shipped_report(sets, ZeroShotPredictor.load())
    if "loso" in studies:
        report["loso"] = leave_one_space_out(sets, ensemble_fit(members=args.members, steps=args.steps))
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for study in ("shipped", "loso"):
        if study in report:
            print(table(f"== {study} ==", report[study]))


if __name__ == "__main__":
    main()
