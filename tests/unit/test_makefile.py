"""The Makefile's tool resolution: uv by one absolute path, whatever PATH and cwd say."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make_variable(name: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "--eval", f"print-var: ; @echo $({name})", "print-var"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_uv_is_an_absolute_path_inside_the_repo_even_without_uv_on_path(tmp_path):
    env = {**os.environ, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    uv = Path(make_variable("UV", env))
    version = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert uv == REPO / ".tools" / f"uv-{version.group(1)}" / "bin" / "uv"


def test_installed_uv_runs_from_a_directory_without_python_version(tmp_path):
    uv = Path(make_variable("UV", dict(os.environ)))
    if not uv.is_file():
        pytest.skip("make setup installs uv")
    result = subprocess.run([str(uv), "--version"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("uv ")
