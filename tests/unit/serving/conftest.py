"""The tiny SavedModels the server tests serve, and a serving root with them pushed."""

from pathlib import Path

import pytest
from tiny_savedmodels import save_tiny_image_model, save_tiny_model

from components.serving_pusher import pusher


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """Saved once: tests push and call them, never change them."""
    root = tmp_path_factory.mktemp("models")
    found = {seed: save_tiny_model(root / f"seed-{seed}", seed) for seed in (1, 2, 3)}
    found["labelled"] = save_tiny_model(root / "labelled", 4, task="labelled")
    found["regress"] = save_tiny_model(root / "regress", 5, task="regress")
    found["broken"] = save_tiny_model(root / "broken", 6, broken=True)
    found["image"] = save_tiny_image_model(root / "image", 7)
    found["image-regress"] = save_tiny_image_model(root / "image-regress", 8, task="regress")
    return found


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory, models) -> Path:
    root = tmp_path_factory.mktemp("serving")
    pusher.push_model(str(models[1]), root / "penguins")
    pusher.push_model(str(models[2]), root / "penguins")
    pusher.push_model(str(models["labelled"]), root / "labelled")
    pusher.push_model(str(models["regress"]), root / "regressor")
    pusher.push_model(str(models["image"]), root / "images")
    pusher.push_model(str(models["image-regress"]), root / "image-regressor")
    return root
