"""Typed hyperparameters: the contract between config, Tuner and ``run_fn``."""

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class HyperParameters:
    """What shapes and trains the Keras model.

    Attributes:
        hidden_units: Width of each hidden Dense layer, input side first.
        learning_rate: Initial Adam learning rate (ReduceLROnPlateau lowers it).
        dropout: Dropout rate after each hidden layer.
        batch_size: Examples per training batch.
        epochs: Upper bound on epochs; EarlyStopping usually ends sooner.
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        reduce_lr_patience: Epochs without val_loss improvement before halving the rate.
        fine_tune_epochs: Transfer learning only: epochs of the second phase, in which the
            top of the pretrained backbone is unfrozen (0: no second phase).
        fine_tune_learning_rate_factor: The second phase's learning rate as a fraction of
            ``learning_rate`` (a tenth by default).
    """

    hidden_units: tuple[int, ...] = (16, 8)
    learning_rate: float = 0.01
    dropout: float = 0.0
    batch_size: int = 32
    epochs: int = 60
    early_stopping_patience: int = 10
    reduce_lr_patience: int = 4
    fine_tune_epochs: int = 0
    fine_tune_learning_rate_factor: float = 0.1

    def __post_init__(self) -> None:
        if not self.hidden_units or any(u < 1 for u in self.hidden_units):
            raise ValueError(
                f"hidden_units: needs one or more positive widths, got {self.hidden_units}"
            )
        if not 0 < self.learning_rate <= 1:
            raise ValueError(f"learning_rate: must be in (0, 1], got {self.learning_rate}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout: must be in [0, 1), got {self.dropout}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs: must be >= 0, got {self.fine_tune_epochs}")
        if not 0 < self.fine_tune_learning_rate_factor <= 1:
            raise ValueError(
                "fine_tune_learning_rate_factor: must be in (0, 1], got "
                f"{self.fine_tune_learning_rate_factor}"
            )
        for name in ("batch_size", "epochs", "early_stopping_patience", "reduce_lr_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, as passed through TFX ``custom_config``."""
        values = dataclasses.asdict(self)
        values["hidden_units"] = list(self.hidden_units)
        return values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "HyperParameters":
        """Inverse of ``to_dict``; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown hyperparameter(s): {', '.join(unknown)}")
        kwargs = dict(values)
        if "hidden_units" in kwargs:
            kwargs["hidden_units"] = tuple(int(u) for u in kwargs["hidden_units"])
        return cls(**kwargs)
