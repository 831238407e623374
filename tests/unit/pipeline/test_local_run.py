"""What a local run imports before its first component."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
# Imported by ``tfx.v1`` (its Google Cloud extensions) and unused by the pipeline: 3.7 s.
UNUSED_HEAVY_MODULES = ("tfx.v1", "google.cloud.aiplatform")


def test_the_runner_does_not_import_tfx_v1_or_its_cloud_extensions():
    probe = (
        "import sys; from pipeline import local_run; "
        f"print(sorted(m for m in {UNUSED_HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
