"""The report in a real headless browser (Debian's `chromium`): the page loads, the browser
decodes both pictures and draws every tree node, and the screenshot is a real picture.

The screenshot is kept as a test artifact: under the test's tmp folder, and copied to
$AGENTNAS_TEST_ARTIFACTS when that is set. Without chromium the test skips, except in CI
(CI=true), where a missing browser is a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
from report_support import sample_run

from agentnas.report import build_report

WIDTH, HEIGHT = 1400, 2000


def chromium() -> str:
    exe = os.environ.get("AGENTNAS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail("chromium is not installed, and in CI (CI=true) the report's browser test must run: "
                    "apt-get install chromium (or set AGENTNAS_CHROMIUM to a Chromium binary)")
    pytest.skip("chromium is not installed (Debian: apt-get install chromium; or set AGENTNAS_CHROMIUM); "
                "the browser test runs where it is, and must in CI")


def render(exe: str, page: Path, shot: Path, work: Path) -> str:
    """Load `page`, write a screenshot, return the DOM after the load event (one browser run)."""
    env = {**os.environ, "HOME": str(work), "XDG_CONFIG_HOME": str(work / "config"),
           "XDG_CACHE_HOME": str(work / "cache")}
    done = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", f"--user-data-dir={work / 'profile'}",
         f"--window-size={WIDTH},{HEIGHT}", f"--screenshot={shot}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def keep(shot: Path) -> None:
    folder = os.environ.get("AGENTNAS_TEST_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, Path(folder) / "report-screenshot.png")


def test_report_renders_tree_and_plots_in_headless_chromium(tmp_path: Path) -> None:
    exe = chromium()
    ids = sample_run(tmp_path / "run")
    result = build_report(tmp_path / "run")
    shot = tmp_path / "report-screenshot.png"
    dom = render(exe, Path(result.html), shot, tmp_path / "browser")
    keep(shot)

    check = re.search(r'<footer id="render-check"([^>]*)>', dom)
    assert check is not None, "the page's render check did not run"
    attrs = dict(re.findall(r'(data-[\w-]+)="(\d+)"', check.group(1)))
    # the browser decoded both embedded PNGs and drew every tree node with a non-empty box
    assert attrs == {"data-images": "2", "data-images-decoded": "2", "data-tree-nodes-drawn": str(len(ids))}
    assert len(re.findall(r'<g class="node ', dom)) == len(ids)
    assert dom.count("<script") == 1  # the injection in code, lesson and hypothesis stayed text

    assert shot.is_file() and shot.stat().st_size > 50_000
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (HEIGHT, WIDTH)
    rgb = np.round(pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    colours = np.unique(rgb, axis=0)
    assert len(colours) > 200  # plots, the colour ramp and text: not a blank or single-colour page
    background = np.all(rgb >= 245, axis=1).mean()
    assert 0.3 < background < 0.97  # mostly page, but with a real share of drawing
    # the blue of the run's best-so-far line is on screen (the plot is in the first screenful)
    blue = np.all(np.abs(rgb.astype(int) - [0x1F, 0x5F, 0xA8]) <= 12, axis=1).sum()
    assert blue > 500
