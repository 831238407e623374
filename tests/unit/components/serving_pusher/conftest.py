"""Fixtures: tiny SavedModels, good and broken, for each task (module-scoped)."""

from pathlib import Path

import pytest
from tiny_models import save_tiny_model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "good": save_tiny_model(root / "good"),
        "nan": save_tiny_model(root / "nan", broken="nan"),
        "shape": save_tiny_model(root / "shape", broken="shape"),
        "regression": save_tiny_model(root / "regression", task="regression"),
        "regression-nan": save_tiny_model(root / "regression-nan", 0, "nan", "regression"),
        "regression-shape": save_tiny_model(root / "regression-shape", 0, "shape", "regression"),
    }
