"""The feature spec: task, label and typed features, as the pipeline YAML declares them.

The spec travels to Transform, Tuner and Trainer inside ``custom_config`` (``to_dict`` /
``from_dict``), so changing it re-runs them. No dataset's names live in Python: every
module that needs a feature name reads it from a ``FeatureSpec``.
"""

import dataclasses
from collections.abc import Mapping
from typing import Any

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)


def transformed_name(key: str) -> str:
    """Name of a feature (or the label) after Transform."""
    return f"{key}_xf"


def raw_name(transformed: str) -> str:
    """Inverse of ``transformed_name``; ValueError for a name that is not one."""
    if not transformed.endswith("_xf"):
        raise ValueError(f"{transformed!r} is no transformed feature name")
    return transformed[: -len("_xf")]


def vocabulary_name(key: str) -> str:
    """File name of the Transform vocabulary built for a categorical or text feature."""
    return f"{key}_vocab"


@dataclasses.dataclass(frozen=True)
class Feature:
    """One model input.

    Attributes:
        name: The CSV column (raw feature) name.
        type: A registered feature type: ``numeric``, ``categorical`` or ``text``.
        options: The type's options, defaults filled in (see each type module's ``OPTIONS``).
    """

    name: str
    type: str
    options: tuple[tuple[str, Any], ...] = ()

    def option(self, key: str) -> Any:
        """The value of one option (KeyError if the type has no such option)."""
        return dict(self.options)[key]


@dataclasses.dataclass(frozen=True)
class Label:
    """The training target.

    Attributes:
        name: The CSV column holding it.
        classes: Classification only: label values as strings; a value's position is its
            class id. Numbers in the CSV match their decimal text (``0``, ``1``).
    """

    name: str
    classes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """What the model reads and predicts.

    Attributes:
        task: ``classification`` (binary when two classes) or ``regression``.
        label: The target column (and classes).
        features: Model inputs in a fixed order.
        slices: Features the Evaluator reports metrics by.
    """

    task: str
    label: Label
    features: tuple[Feature, ...]
    slices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task: must be one of {', '.join(TASKS)}; got {self.task!r}")
        if not self.features:
            raise ValueError("features: needs at least one feature")
        names = [f.name for f in self.features]
        repeated = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if repeated:
            raise ValueError(f"features.{repeated}: listed twice")
        if self.label.name in names:
            raise ValueError(f"features.{self.label.name}: is the label; a label is not a feature")
        self._check_label()
        unknown = [s for s in self.slices if s not in names]
        if unknown:
            raise ValueError(f"slices: {unknown[0]!r} is not one of the features")

    def _check_label(self) -> None:
        classes = self.label.classes
        if self.task == REGRESSION and classes:
            raise ValueError("label.classes: a regression label has no classes")
        if self.task == CLASSIFICATION and (len(classes) < 2 or len(set(classes)) != len(classes)):
            raise ValueError(
                f"label.classes: needs two or more distinct values, got {list(classes)}"
            )

    @property
    def is_regression(self) -> bool:
        return self.task == REGRESSION

    @property
    def is_binary(self) -> bool:
        return self.task == CLASSIFICATION and len(self.label.classes) == 2

    @property
    def num_classes(self) -> int:
        """Width of the classifier's probability output; 0 for regression."""
        return len(self.label.classes)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def of_type(self, type_name: str) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.type == type_name)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, as passed through TFX ``custom_config``."""
        return {
            "task": self.task,
            "label": {"name": self.label.name, "classes": list(self.label.classes)},
            "features": [
                {"name": f.name, "type": f.type, "options": dict(f.options)} for f in self.features
            ],
            "slices": list(self.slices),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "FeatureSpec":
        """Inverse of ``to_dict``."""
        return cls(
            task=values["task"],
            label=Label(values["label"]["name"], tuple(values["label"]["classes"])),
            features=tuple(
                Feature(f["name"], f["type"], tuple(sorted(f["options"].items())))
                for f in values["features"]
            ),
            slices=tuple(values["slices"]),
        )
