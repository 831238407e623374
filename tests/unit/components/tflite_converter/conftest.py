"""Fixtures: one model per task, trained and exported as the Trainer does (module-scoped)."""

import pytest
from penguins_spec import SPEC as PENGUINS_SPEC
from trained_models import (
    BINARY_SPEC,
    PENGUIN_COLUMNS,
    PENGUIN_ROWS,
    PENGUINS_RAW_SPEC,
    REGRESSION_SPEC,
    SYNTHETIC_COLUMNS,
    SYNTHETIC_RAW_SPEC,
    Trained,
    synthetic_rows,
    train_and_export,
)


@pytest.fixture(scope="module")
def penguins(tmp_path_factory) -> Trained:
    """Three-class penguins model on ten rows (scored on the same rows)."""
    return train_and_export(
        tmp_path_factory.mktemp("penguins"),
        PENGUINS_SPEC,
        PENGUINS_RAW_SPEC,
        PENGUIN_COLUMNS,
        PENGUIN_ROWS,
        PENGUIN_ROWS,
        hidden=(8,),
        epochs=30,
    )


@pytest.fixture(scope="module")
def regression(tmp_path_factory) -> Trained:
    """Price regression over a number, a log-scaled count and a colour."""
    return train_and_export(
        tmp_path_factory.mktemp("regression"),
        REGRESSION_SPEC,
        SYNTHETIC_RAW_SPEC,
        SYNTHETIC_COLUMNS,
        synthetic_rows(400, seed=0),
        synthetic_rows(100, seed=1),
    )


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Trained:
    """Binary classification (sold: no/yes): one sigmoid unit given as [1 - p, p]."""
    return train_and_export(
        tmp_path_factory.mktemp("binary"),
        BINARY_SPEC,
        SYNTHETIC_RAW_SPEC,
        SYNTHETIC_COLUMNS,
        synthetic_rows(400, seed=2),
        synthetic_rows(100, seed=3),
        epochs=40,
    )
