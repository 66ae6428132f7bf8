"""The value model shipped with the package loads and ranks the example candidates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agentnas.value.zeroshot import PRETRAINED, ZeroShotPredictor

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_value_model_loads_with_its_provenance() -> None:
    predictor = ZeroShotPredictor.load()
    assert PRETRAINED.is_file() and PRETRAINED.stat().st_size < 5 * 2**20
    assert set(predictor.info["spaces"]) == {"nb201", "macro"} and len(predictor.heads) >= 3


def test_predict_uses_the_shipped_model_by_default(tmp_path: Path) -> None:
    (tmp_path / "agentnas.toml").write_text(f'cache_dir = "{tmp_path / "cache"}"\n')
    files = [str(ROOT / "examples" / f"mnist1d_{m}.py") for m in ("logistic", "cnn")]
    proc = subprocess.run([sys.executable, "-m", "agentnas", "predict", *files, "--json"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr
    rows = {Path(r["path"]).stem: r for r in json.loads(proc.stdout)}
    assert rows["mnist1d_cnn"]["mean"] > rows["mnist1d_logistic"]["mean"]  # 94 % vs 32 % in the paper
