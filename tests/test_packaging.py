"""The wheel carries prompts/, memory/, sandbox/ and examples/ under agentnas/_shipped/,
and an installed agentnas finds them outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
                   cwd=ROOT, check=True, capture_output=True)
    (whl,) = out.glob("agentnas-*.whl")
    return whl


def test_wheel_carries_shipped_folders_under_a_private_package_folder(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("agentnas/_shipped/sandbox/zygote.py", "agentnas/_shipped/sandbox/worker.py",
                   "agentnas/_shipped/sandbox/train.py", "agentnas/_shipped/prompts/README.md",
                   "agentnas/_shipped/memory/README.md", "agentnas/_shipped/examples/mnist1d_cnn.py",
                   "agentnas/value/pretrained/zeroshot.pt"):
        assert needed in names
    # never installed on top of top-level packages of the same name
    assert not any(n.startswith(("sandbox/", "prompts/", "memory/", "examples/")) for n in names)


def test_installed_package_resolves_shipped_folders_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    code = ("from agentnas.paths import shipped_dir; "
            "print(shipped_dir('sandbox')); print((shipped_dir('sandbox') / 'zygote.py').is_file())")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(target)) and out[1] == "True"
