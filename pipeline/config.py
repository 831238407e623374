"""Pipeline configuration: YAML loaded once into frozen, validated dataclasses.

Relative paths in a config file are resolved against the directory that holds
the file, never against the current directory. Any unknown key, wrong type or
out-of-range value raises ``ConfigError`` with a one-line message naming the key.
"""

import csv
import dataclasses
import datetime
import hashlib
import json
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from components import features
from components.features import FeatureSpec
from components.image_example_gen import keys as image_keys
from components.trainer.hparams import HyperParameters

_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_KFP_CRON_FIELDS = 6  # seconds minutes hours day-of-month month day-of-week
_AIRFLOW_PRESETS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
_AIRFLOW_CRON_FIELDS = 5  # minute hour day-of-month month day-of-week
# Top-level YAML keys that together make the feature spec.
_SPEC_KEYS = ("task", "label", "features", "slices")
_OPTION_ERROR = re.compile(r"^\w+: ")
# What spreadsheets, R, pandas and databases write for "no value".
SPAN_SPEC = "{SPAN}"  # TFX ExampleGen's span placeholder
DEFAULT_MISSING_VALUES = ("", "NA", "N/A", "#N/A", "NaN", "nan", "null", "NULL", "None")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the offending key."""


@dataclasses.dataclass(frozen=True)
class SplitBuckets:
    """Hash-bucket weights of the ExampleGen splits (7:2:1 is 70/20/10 percent)."""

    train: int = 7
    eval: int = 2
    test: int = 1

    def __post_init__(self) -> None:
        for name in ("train", "eval", "test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class MinExamples:
    """Fewest examples each split must hold; the DataGate stops the run before Transform.

    The defaults keep one eval example at 5 accuracy points and one test example at 10.
    """

    train: int = 50
    eval: int = 20
    test: int = 10

    def __post_init__(self) -> None:
        for name in ("train", "eval", "test"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the raw data lives (CSV files or class folders of images) and how it is split.

    Attributes:
        csv_dir: Directory of CSV files with a header row (CsvExampleGen input).
        image_dir: Instead of ``csv_dir``: a directory of class folders of image files,
            ``<image_dir>/<class>/<file>`` (ImageExampleGen input; the folder name is the label).
        splits: Hash-bucket weights of the train/eval/test splits.
        min_examples: Fewest examples per split; fewer stops the run before Transform,
            and the Evaluator does not bless a model scored on fewer eval examples.
        missing_values: CSV fields (compared with surrounding spaces removed) that mean
            "no value"; every other field is a value.
        max_class_share: Images: the largest fraction of all images one class may hold
            (0.9: 90%); more is a data anomaly.
        image_formats: Images: the formats taken (of png, jpeg, gif, bmp, by the file's
            signature); a file of another is a data anomaly naming it.
        input_pattern: Spans: CSV files under ``csv_dir`` matching this glob, whose
            ``{SPAN}`` is the span number (``span-{SPAN}/*.csv``), as TFX's ExampleGen reads
            them; null reads every CSV file directly in ``csv_dir``.
        num_spans: With ``input_pattern``, the pipeline reads the latest this many spans
            (a span missing in that range is skipped).
    """

    csv_dir: Path | None = None
    image_dir: Path | None = None
    splits: SplitBuckets = SplitBuckets()
    min_examples: MinExamples = MinExamples()
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES
    max_class_share: float = 0.9
    image_formats: tuple[str, ...] = image_keys.DEFAULT_FORMATS
    input_pattern: str | None = None
    num_spans: int = 1

    def __post_init__(self) -> None:
        if (self.csv_dir is None) == (self.image_dir is None):
            raise ValueError(
                f"{'image_dir' if self.csv_dir else 'csv_dir'}: set either csv_dir (a folder of "
                "CSV files) or image_dir (a folder of class folders of images), not "
                f"{'both' if self.csv_dir else 'neither'}"
            )
        if self.num_spans < 1:
            raise ValueError(f"num_spans: must be >= 1, got {self.num_spans}")
        if self.csv_dir is not None:
            self._check_csv_dir()
        else:
            if self.input_pattern is not None:
                raise ValueError("input_pattern: spans are read from csv_dir only")
            self._check_image_dir(self.image_dir)
        odd = [v for v in self.missing_values if v != v.strip() or "\n" in v]
        if odd:
            raise ValueError(
                f"missing_values: tokens are compared without surrounding spaces, got {odd[0]!r}"
            )
        if not 0 < self.max_class_share <= 1:  # also rejects NaN
            raise ValueError(f"max_class_share: must be in (0, 1], got {self.max_class_share}")
        unknown = [f for f in self.image_formats if f not in image_keys.FORMATS]
        if (
            unknown
            or not self.image_formats
            or len(set(self.image_formats)) < len(self.image_formats)
        ):
            raise ValueError(
                f"image_formats: a list of distinct formats of {', '.join(image_keys.FORMATS)}, "
                f"got [{', '.join(self.image_formats)}]"
            )

    def _check_csv_dir(self) -> None:
        csv_dir = self.csv_dir
        if not csv_dir.is_dir():
            raise ValueError(f"csv_dir: no such directory: {csv_dir}")
        if self.input_pattern is not None:
            if self.input_pattern.count(SPAN_SPEC) != 1 or self.input_pattern.startswith("/"):
                raise ValueError(
                    f"input_pattern: a glob relative to csv_dir with one {SPAN_SPEC}, such as "
                    f"span-{SPAN_SPEC}/*.csv; got {self.input_pattern!r}"
                )
            if not self.span_files():
                raise ValueError(f"input_pattern: no CSV file matches {self.input_pattern!r}")
            return
        files = [p for p in csv_dir.iterdir() if not p.name.startswith(".")]
        if not any(p.suffix == ".csv" for p in files):
            raise ValueError(f"csv_dir: no .csv file in {csv_dir}")
        others = sorted(p.name for p in files if p.suffix != ".csv")
        if others:
            raise ValueError(
                f"csv_dir: holds files ExampleGen would read as CSV: {', '.join(others)}"
            )

    @staticmethod
    def _check_image_dir(image_dir: Path) -> None:
        if not image_dir.is_dir():
            raise ValueError(f"image_dir: no such directory: {image_dir}")
        entries = [p for p in image_dir.iterdir() if not p.name.startswith(".")]
        loose = sorted(p.name for p in entries if not p.is_dir())
        if loose:
            raise ValueError(
                f"image_dir: holds files outside class folders (ExampleGen reads only "
                f"<image_dir>/<class>/<file>): {', '.join(loose)}"
            )
        if not entries:
            raise ValueError(
                f"image_dir: no class folder in {image_dir} (expected <class>/<image file>)"
            )

    @property
    def data_dir(self) -> Path:
        """``csv_dir`` or ``image_dir``, whichever is set: ExampleGen's input."""
        return self.csv_dir or self.image_dir

    def class_folders(self) -> tuple[str, ...]:
        """Images: the class folders' names, sorted (empty ones included); () for CSV."""
        if self.image_dir is None:
            return ()
        return tuple(
            sorted(p.name for p in self.image_dir.iterdir() if p.is_dir() and p.name[0] != ".")
        )

    def input_bytes(self) -> int:
        """Total size of the files ExampleGen reads (the spans' CSV files, or the images)."""
        if self.csv_dir is not None:
            return sum(p.stat().st_size for p in self.csv_files())
        return sum(p.stat().st_size for p in self.image_dir.glob(image_keys.FILE_PATTERN))

    def span_files(self) -> dict[int, list[Path]]:
        """Span number -> its CSV files, for ``input_pattern`` ({} without one)."""
        if self.input_pattern is None or self.csv_dir is None:
            return {}
        head, tail = self.input_pattern.split(SPAN_SPEC)
        number = re.compile(re.escape(head).replace(r"\*", "[^/]*") + r"([0-9]+)")
        found: dict[int, list[Path]] = {}
        for path in self.csv_dir.glob(self.input_pattern.replace(SPAN_SPEC, "*")):
            match = number.match(path.relative_to(self.csv_dir).as_posix())
            if match and path.is_file():
                found.setdefault(int(match[1]), []).append(path)
        return {span: sorted(paths) for span, paths in sorted(found.items())}

    def csv_files(self) -> list[Path]:
        """The CSV files a run reads: those of the latest ``num_spans`` spans, or all
        (none for images)."""
        if self.csv_dir is None:
            return []
        spans = self.span_files()
        if spans:
            latest = max(spans)
            return [p for s, paths in spans.items() if s > latest - self.num_spans for p in paths]
        return sorted(p for p in self.csv_dir.iterdir() if p.suffix == ".csv")

    def header(self) -> tuple[str, ...]:
        """Column names of the first CSV file, read with a CSV parser (quotes, BOM); for
        images, the keys of ImageExampleGen's examples (``image_error`` aside)."""
        if self.csv_dir is None:
            return image_keys.example_keys()[:-1]
        first = self.csv_files()[0]
        with first.open(newline="", encoding="utf-8-sig", errors="replace") as f:
            return tuple(name.strip() for name in next(csv.reader(f), []))


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
    """Schema source and what anomalies do.

    Attributes:
        schema_path: Curated schema.pbtxt loaded by ImportSchemaGen; null infers one with SchemaGen.
        on_anomalies: ``fail`` stops the run before Transform; ``warn`` prints them and goes on.
    """

    schema_path: Path | None = None
    on_anomalies: Literal["fail", "warn"] = "fail"

    def __post_init__(self) -> None:
        if self.schema_path is not None and not self.schema_path.is_file():
            raise ValueError(f"schema_path: no such file: {self.schema_path}")


@dataclasses.dataclass(frozen=True)
class TrainerConfig:
    """Training budget and hyperparameters.

    Attributes:
        steps_per_epoch: Batches per Keras epoch; 0 (default): one pass over the train split.
        eval_steps: Validation batches after each epoch; 0 (default): one pass over eval.
        hyperparameters: Used as they are, or as the Tuner's defaults when it is on.
        mixed_precision: Train under Keras' ``mixed_float16`` policy (float16 compute,
            float32 variables and outputs): a GPU option; a CPU runs it, slower.
        distribution: ``none``, or ``mirrored``: build and train the model inside
            ``tf.distribute.MirroredStrategy`` (every visible GPU; one CPU is one replica).
    """

    steps_per_epoch: int = 0
    eval_steps: int = 0
    hyperparameters: HyperParameters = HyperParameters()
    mixed_precision: bool = False
    distribution: str = "none"

    def __post_init__(self) -> None:
        if self.distribution not in ("none", "mirrored"):
            raise ValueError(f"distribution: none or mirrored, got {self.distribution!r}")
        for name in ("steps_per_epoch", "eval_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0 (0: one pass), got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class TunerConfig:
    """keras-tuner random search over the model's shape and learning rate.

    Attributes:
        enabled: Adds the Tuner; the Trainer then trains with the best hyperparameters found.
        max_trials: Hyperparameter sets tried.
        epochs: Epochs each trial trains for.
        hidden_units_choices: Candidate first-layer widths (a second layer is half as wide).
        learning_rate_choices: Candidate learning rates.
    """

    enabled: bool = False
    max_trials: int = 6
    epochs: int = 10
    hidden_units_choices: tuple[int, ...] = (8, 16, 32)
    learning_rate_choices: tuple[float, ...] = (0.001, 0.01, 0.03)

    def __post_init__(self) -> None:
        for name in ("max_trials", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.hidden_units_choices or min(self.hidden_units_choices) < 2:
            raise ValueError("hidden_units_choices: needs widths >= 2")
        if not self.learning_rate_choices or not all(
            0 < r <= 1 for r in self.learning_rate_choices
        ):
            raise ValueError("learning_rate_choices: needs rates in (0, 1]")


@dataclasses.dataclass(frozen=True)
class EvaluatorConfig:
    """Blessing thresholds (TFMA), per task.

    Attributes:
        min_accuracy: Classification value threshold: eval accuracy must reach this.
        max_accuracy_drop: Classification change threshold: the candidate may trail the
            latest blessed model's accuracy by at most this much (absolute, 0.01 = one point).
        error_metric: Regression: the gated error, ``mae``, ``rmse`` or ``mse`` (lower is better).
        max_error: Regression value threshold: ``error_metric`` on eval must not exceed this
            (label units; squared units for mse). Required for regression.
        max_error_increase: Regression change threshold: the candidate's error may exceed the
            latest blessed model's by at most this fraction of it (0.05 = 5 percent).
        max_examples: The most examples the Evaluator and TestEvaluator score per split: a
            larger split is scored on a uniform sample of this size (the same sample on
            every run, for the candidate and the baseline alike). None scores every example.
    """

    min_accuracy: float = 0.8
    max_accuracy_drop: float = 0.01
    error_metric: Literal["mae", "rmse", "mse"] = "mae"
    max_error: float | None = None
    max_error_increase: float = 0.05
    max_examples: int | None = 10_000

    def __post_init__(self) -> None:
        if self.max_examples is not None and self.max_examples < 1:
            raise ValueError(f"max_examples: must be >= 1 or null, got {self.max_examples}")
        if not 0 <= self.min_accuracy <= 1:
            raise ValueError(f"min_accuracy: must be in [0, 1], got {self.min_accuracy}")
        if not 0 <= self.max_accuracy_drop <= 1:
            raise ValueError(f"max_accuracy_drop: must be in [0, 1], got {self.max_accuracy_drop}")
        if self.max_error is not None and not self.max_error > 0:
            raise ValueError(f"max_error: must be > 0, got {self.max_error}")
        if not self.max_error_increase >= 0:
            raise ValueError(f"max_error_increase: must be >= 0, got {self.max_error_increase}")


@dataclasses.dataclass(frozen=True)
class TFLiteConfig:
    """The TFLiteConverter: raw-feature TFLite model, parity-gated against the SavedModel.

    Attributes:
        enabled: Adds the converter after the Evaluator (blessed models only).
        quantization: none, dynamic (weights int8), float16, or int8 (calibrated on train data).
        accuracy_tolerance: Classification: the largest eval accuracy drop (absolute; 0.01 =
            one point) that still blesses a TFLite form. Regression: the largest MAE increase,
            as a fraction of the SavedModel's MAE (0.01 = 1%).
        micro: Also build the microcontroller variant (builtins-only int8 on transformed
            features, C array and preprocessing spec).
        representative_examples: Train examples used to calibrate int8.
        parity_examples: The most eval examples both forms are scored on: a uniform
            sample of the eval split when it is larger, so the converter's memory and
            time stay bounded as the data grows.
    """

    enabled: bool = True
    quantization: Literal["none", "dynamic", "float16", "int8"] = "dynamic"
    accuracy_tolerance: float = 0.01
    micro: bool = False
    representative_examples: int = 100
    parity_examples: int = 10_000

    def __post_init__(self) -> None:
        if not 0 <= self.accuracy_tolerance <= 1:
            raise ValueError(
                f"accuracy_tolerance: must be in [0, 1], got {self.accuracy_tolerance}"
            )
        if self.representative_examples < 1:
            raise ValueError("representative_examples: must be >= 1")
        if self.parity_examples < 1:
            raise ValueError(f"parity_examples: must be >= 1, got {self.parity_examples}")


@dataclasses.dataclass(frozen=True)
class PusherConfig:
    """Where blessed models go.

    Attributes:
        model_name: Served model name; versions land in ``<serving root>/<model_name>/<version>/``.
            Default: the pipeline's ``name``.
        serving_dir: The serving root (absolute, or relative to the config); default
            ``<work dir>/serving``.
        keep_versions: Versions kept in the model base path; older ones are deleted.
    """

    model_name: str | None = None
    serving_dir: Path | None = None
    keep_versions: int = 5

    def __post_init__(self) -> None:
        name = self.model_name
        if name is not None and not (name and name.replace("-", "").replace("_", "").isalnum()):
            raise ValueError(
                f"model_name: letters, digits, '-' and '_' only, got {self.model_name!r}"
            )
        if self.keep_versions < 1:
            raise ValueError(f"keep_versions: must be >= 1, got {self.keep_versions}")


@dataclasses.dataclass(frozen=True)
class BeamConfig:
    """How Beam runs the data-heavy components.

    Attributes:
        direct_running_mode: DirectRunner mode; ``auto`` picks in_memory for data under
            ``multi_processing_above_mb`` and multi_processing above it.
        direct_num_workers: Worker processes for multi_processing; 0 means one per core.
        multi_processing_above_mb: Input size at which ``auto`` switches to multi_processing.
        extra_args: Further Beam pipeline args, passed as given (e.g. --runner=FlinkRunner).
    """

    direct_running_mode: Literal["auto", "in_memory", "multi_threading", "multi_processing"] = (
        "auto"
    )
    direct_num_workers: int = 0
    multi_processing_above_mb: float = 64.0
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.direct_num_workers < 0:
            raise ValueError(f"direct_num_workers: must be >= 0, got {self.direct_num_workers}")
        if not self.multi_processing_above_mb > 0:  # also rejects NaN
            raise ValueError("multi_processing_above_mb: must be > 0")
        bad = [a for a in self.extra_args if not a.startswith("--")]
        if bad:
            raise ValueError(f"extra_args: each must start with '--', got {bad[0]!r}")


@dataclasses.dataclass(frozen=True)
class KubeflowConfig:
    """Where and how the pipeline runs on Kubeflow Pipelines v2 (or Vertex AI Pipelines).

    Attributes:
        image: Image every step runs in (this repository's Dockerfile), pinned by a tag
            other than ``latest`` or by ``@sha256:`` digest.
        pipeline_root: Object-store root of the artifacts, e.g. ``gs://bucket/penguins``.
        data_root: Directory of the CSV files CsvExampleGen reads: a URI
            (``gs://bucket/penguins/data``) or an absolute path inside the image.
        schema_path: The curated schema as the steps see it: its path inside the image
            (``/pipeline/schemas/penguins/schema.pbtxt``) or a URI. Required when
            ``validation.schema_path`` is set.
        serving_root: Serving root as an absolute path inside the container (a mounted
            volume): the ServingPusher writes with POSIX renames and file locks.
        beam_args: Beam args of the Beam-powered steps on the cluster; they replace the
            local DirectRunner args (e.g. ``--runner=DataflowRunner``, ``--project=...``).
        schedule: Recurring-run cron in KFP's six fields, seconds first
            (``0 0 3 * * *`` = 03:00 daily); null submits a single run.
        experiment: KFP experiment the runs are filed under.
        platform: ``kubeflow`` (open-source Kubeflow Pipelines) or ``vertex`` (Vertex AI
            Pipelines). Open-source KFP runs no resolver step, so there the Evaluator has no
            baseline and gates on ``evaluator.min_accuracy`` alone; Vertex runs TFX's
            latest-blessed-model resolver.
        serving_pvc: ``kubeflow`` only, and required there: the PersistentVolumeClaim
            mounted at ``serving_root`` in the ServingPusher step (where TF Serving reads).
    """

    image: str
    pipeline_root: str
    data_root: str
    schema_path: str | None = None
    serving_root: str = "/mnt/serving"
    beam_args: tuple[str, ...] = ()
    schedule: str | None = None
    experiment: str = "penguins"
    platform: Literal["kubeflow", "vertex"] = "kubeflow"
    serving_pvc: str | None = None

    def __post_init__(self) -> None:
        _check_image(self.image)
        if not _URI.match(self.pipeline_root):
            raise ValueError(
                f"pipeline_root: needs an object-store URI such as gs://bucket/path, "
                f"got {self.pipeline_root!r}"
            )
        for name in ("data_root", "schema_path"):
            value = getattr(self, name)
            if value is not None and not (_URI.match(value) or value.startswith("/")):
                raise ValueError(
                    f"{name}: needs a URI (gs://...) or an absolute path inside the image, "
                    f"got {value!r}"
                )
        if _URI.match(self.serving_root) or not self.serving_root.startswith("/"):
            raise ValueError(
                "serving_root: needs an absolute path inside the container (a mounted volume), "
                f"got {self.serving_root!r}"
            )
        bad = [a for a in self.beam_args if not a.startswith("--")]
        if bad:
            raise ValueError(f"beam_args: each must start with '--', got {bad[0]!r}")
        if self.schedule is not None and len(self.schedule.split()) != _KFP_CRON_FIELDS:
            raise ValueError(
                f"schedule: needs a six-field cron (seconds first, e.g. '0 0 3 * * *'), "
                f"got {self.schedule!r}"
            )
        if not self.experiment.strip():
            raise ValueError("experiment: must not be empty")
        self._check_platform()

    def _check_platform(self) -> None:
        if self.platform not in ("kubeflow", "vertex"):
            raise ValueError(f"platform: must be kubeflow or vertex, got {self.platform!r}")
        if self.platform == "vertex" and self.serving_pvc is not None:
            raise ValueError("serving_pvc: Vertex AI Pipelines mounts no PersistentVolumeClaim")
        if self.platform == "kubeflow":
            if self.serving_pvc is None:
                raise ValueError(
                    "serving_pvc: required on platform kubeflow: the PersistentVolumeClaim "
                    "mounted at serving_root in the ServingPusher step"
                )
            if len(self.serving_pvc) > 253 or not _K8S_NAME.match(self.serving_pvc):
                raise ValueError(
                    f"serving_pvc: not a Kubernetes resource name, got {self.serving_pvc!r}"
                )


@dataclasses.dataclass(frozen=True)
class AirflowConfig:
    """How Airflow schedules the DAG (``dags/penguins_dag.py``).

    Attributes:
        schedule: Five-field cron (``0 3 * * *``) or a preset (``@daily``); null: the DAG
            runs only when triggered.
        start_date: First logical date, ``YYYY-MM-DD`` (UTC); quote it in YAML.
        retries: Retries of a failed task.
        retry_delay_minutes: Wait before each retry.
        max_active_runs: Runs at once; 1 keeps runs from racing on one SQLite ML Metadata.
        monitor_schedule: Adds the ``<name>_monitor`` DAG on this cron or preset: it runs
            ``runner.py monitor``'s pass and triggers the pipeline's DAG when skew or drift
            fires; null (default): no monitor DAG.
    """

    schedule: str | None = "@daily"
    start_date: str = "2024-01-01"
    retries: int = 1
    retry_delay_minutes: int = 5
    max_active_runs: int = 1
    monitor_schedule: str | None = None

    def __post_init__(self) -> None:
        for name in ("schedule", "monitor_schedule"):
            value = getattr(self, name)
            if value is not None and not (
                value in _AIRFLOW_PRESETS or len(value.split()) == _AIRFLOW_CRON_FIELDS
            ):
                raise ValueError(
                    f"{name}: needs a five-field cron or one of {', '.join(_AIRFLOW_PRESETS)}, "
                    f"got {value!r}"
                )
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.start_date):
            raise ValueError(f"start_date: needs YYYY-MM-DD, got {self.start_date!r}")
        try:
            datetime.date.fromisoformat(self.start_date)
        except ValueError:
            raise ValueError(f"start_date: not a date: {self.start_date!r}") from None
        if self.retries < 0:
            raise ValueError(f"retries: must be >= 0, got {self.retries}")
        if self.retry_delay_minutes < 1:
            raise ValueError(f"retry_delay_minutes: must be >= 1, got {self.retry_delay_minutes}")
        if self.max_active_runs < 1:
            raise ValueError(f"max_active_runs: must be >= 1, got {self.max_active_runs}")


@dataclasses.dataclass(frozen=True)
class DistanceThresholds:
    """Largest per-feature distances that raise no alert.

    Attributes:
        categorical: L-infinity distance between category frequency vectors (0 to 1).
        numeric: Jensen-Shannon divergence of the numeric histograms (0 to 1).
    """

    categorical: float = 0.1
    numeric: float = 0.1

    def __post_init__(self) -> None:
        for name in ("categorical", "numeric"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be in (0, 1], got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class MonitoringConfig:
    """What ``runner.py serve`` records and what ``runner.py monitor`` alerts on.

    Attributes:
        sample_rate: Share of inference requests logged with their inputs and outputs
            (0 logs none, 1 every one), under ``<work dir>/serving_logs/<model>/``.
        max_log_file_bytes: A log file is closed and a new one started past this size.
        log_queue_size: Records waiting for the log writer; more are dropped (and counted),
            never waited for.
        window: Logged requests ``monitor`` looks at by default (the newest); the drift
            baseline is the same number just before them.
        skew: Thresholds between the live inputs and the training split.
        drift: Thresholds between the live window and the window before it.
        max_error_rate: Share of logged requests answered with an error that alerts.
        max_accuracy_drop: Classification: online accuracy may trail the test split's by
            this much (absolute) before it alerts.
        max_error_increase: Regression: online MAE may exceed the test split's by this
            fraction of it before it alerts.
        min_labelled: Labelled requests needed before the online figure can alert.
    """

    sample_rate: float = 1.0
    max_log_file_bytes: int = 16_000_000
    log_queue_size: int = 10_000
    window: int = 1000
    skew: DistanceThresholds = DistanceThresholds()
    drift: DistanceThresholds = DistanceThresholds()
    max_error_rate: float = 0.05
    max_accuracy_drop: float = 0.05
    max_error_increase: float = 0.25
    min_labelled: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.sample_rate <= 1:
            raise ValueError(f"sample_rate: must be in [0, 1], got {self.sample_rate}")
        if self.max_log_file_bytes < 1024:
            raise ValueError(f"max_log_file_bytes: must be >= 1024, got {self.max_log_file_bytes}")
        for name in ("log_queue_size", "window", "min_labelled"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        for name in ("max_error_rate", "max_accuracy_drop"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be in [0, 1], got {getattr(self, name)}")
        if not self.max_error_increase >= 0:
            raise ValueError(f"max_error_increase: must be >= 0, got {self.max_error_increase}")


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """The whole pipeline, as one frozen value.

    Attributes:
        name: Pipeline name in ML Metadata and under the pipeline root.
        work_dir: Holds pipeline root, ML Metadata, serving directory and run logs.
        spec: Task, label, features and slices (top-level ``task``, ``label``,
            ``features`` and ``slices`` in the YAML).
        source: The YAML file this was loaded from.
    """

    name: str
    work_dir: Path
    data: DataConfig
    spec: FeatureSpec
    validation: ValidationConfig = ValidationConfig()
    trainer: TrainerConfig = TrainerConfig()
    tuner: TunerConfig = TunerConfig()
    evaluator: EvaluatorConfig = EvaluatorConfig()
    tflite: TFLiteConfig = TFLiteConfig()
    pusher: PusherConfig = PusherConfig()
    beam: BeamConfig = BeamConfig()
    kubeflow: KubeflowConfig | None = None
    airflow: AirflowConfig = AirflowConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    source: Path | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"name: letters, digits, '-' and '_' only, got {self.name!r}")
        if self.kubeflow and self.validation.schema_path and not self.kubeflow.schema_path:
            raise ValueError(
                "kubeflow.schema_path: required when validation.schema_path is set "
                "(the schema's path inside the image, or a URI)"
            )
        if self.spec.is_regression and self.evaluator.max_error is None:
            raise ValueError(
                "evaluator.max_error: required for a regression task "
                f"(the largest eval {self.evaluator.error_metric} that still blesses a model)"
            )
        cap = self.evaluator.max_examples
        if cap is not None and cap < self.data.min_examples.eval:
            raise ValueError(
                f"evaluator.max_examples: {cap} is below data.min_examples.eval "
                f"({self.data.min_examples.eval}); no eval sample could bless a model"
            )
        if self.tflite.micro:
            _check_micro(self.spec)
        _check_columns(
            self.spec, self.data.header(), "the CSV" if self.data.csv_dir else "the image examples"
        )
        if self.validation.schema_path:
            _check_schema(self.spec, self.validation.schema_path)

    @property
    def pipeline_root(self) -> Path:
        return self.work_dir / "pipelines" / self.name

    @property
    def metadata_path(self) -> Path:
        return self.work_dir / "metadata.sqlite"

    @property
    def serving_root(self) -> Path:
        return self.pusher.serving_dir or self.work_dir / "serving"

    @property
    def model_name(self) -> str:
        """The served model's name: ``pusher.model_name``, else the pipeline's name."""
        return self.pusher.model_name or self.name

    @property
    def serving_model_dir(self) -> Path:
        return self.serving_root / self.model_name

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @property
    def serving_logs_dir(self) -> Path:
        """Request logs and feedback of the served models, one directory per model."""
        return self.work_dir / "serving_logs"

    @property
    def monitor_dir(self) -> Path:
        """Where ``runner.py monitor`` writes ``monitor.html`` and ``monitor.json``."""
        return self.work_dir / "monitor" / self.model_name

    def digest(self) -> str:
        """Short, stable digest of every setting (paths included)."""
        payload = json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _check_micro(spec: FeatureSpec) -> None:
    """The microcontroller model takes z-scored numbers and one-hot categories only."""
    for feature in spec.features:
        options = dict(feature.options)
        if feature.type == "text":
            problem = "a text feature"
        elif options.get("bucketize"):
            problem = "a bucketized feature"
        elif options.get("embedding_dim"):
            problem = "an embedded feature"
        else:
            continue
        raise ValueError(
            f"tflite.micro: the microcontroller model takes no {problem.split(' ', 1)[1]} "
            f"({feature.name} is {problem})"
        )


def _check_columns(spec: FeatureSpec, header: tuple[str, ...], where: str) -> None:
    columns = set(header)
    if spec.label.name not in columns:
        raise ValueError(
            f"label.name: no column {spec.label.name!r} in {where} (columns: {', '.join(header)})"
        )
    for feature in spec.features:
        if feature.name not in columns:
            raise ValueError(
                f"features.{feature.name}: no such column in {where} (columns: {', '.join(header)})"
            )


def _check_schema(spec: FeatureSpec, schema_path: Path) -> None:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(schema_path.read_text(), schema_pb2.Schema())
    types = {f.name: f.type for f in schema.feature if f.lifecycle_stage != schema_pb2.DEPRECATED}
    for key, name in [("label.name", spec.label.name)] + [
        (f"features.{f.name}", f.name) for f in spec.features
    ]:
        if name not in types:
            raise ValueError(
                f"{key}: {name!r} is not in the schema (or deprecated there): {schema_path}"
            )
    for feature in spec.of_type("numeric"):
        if types[feature.name] == schema_pb2.BYTES:
            raise ValueError(
                f"features.{feature.name}: declared numeric, but the schema stores it as text"
            )
    if spec.is_regression and types[spec.label.name] == schema_pb2.BYTES:
        raise ValueError(
            f"label.name: a regression label must be numeric; {spec.label.name!r} is text"
        )


def _check_image(image: str) -> None:
    name, _, digest = image.partition("@")
    if digest:
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ValueError(f"image: malformed digest in {image!r}")
        return
    last = name.rsplit("/", 1)[-1]
    tag = last.partition(":")[2]
    if not tag or tag == "latest":
        raise ValueError(
            f"image: pin a tag other than 'latest' or a @sha256: digest, got {image!r}"
        )


def load_config(path: Path, work_dir: Path | None = None) -> PipelineConfig:
    """Loads and validates a pipeline config file.

    Args:
        path: The YAML file.
        work_dir: Overrides the file's ``work_dir``.

    Raises:
        ConfigError: One line naming the file and the offending key.
    """
    path = Path(path).resolve()
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    raw = dict(raw)
    if work_dir is not None:
        raw["work_dir"] = str(Path(work_dir).resolve())
    raw.setdefault("work_dir", "../work")
    raw["spec"] = {key: raw.pop(key) for key in _SPEC_KEYS if key in raw}
    try:
        config = _build(PipelineConfig, raw, "", path.parent)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    return dataclasses.replace(config, source=path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(k, deep=deep) for k, _ in node.value]
        repeated = next((k for i, k in enumerate(keys) if k in keys[:i]), None)
        if repeated is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{repeated}' appears twice", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def _build(cls: type, raw: Any, key: str, base_dir: Path) -> Any:
    if raw is None:  # an empty section means "all defaults"
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'top level'}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key '{_join(key, unknown[0])}'")
    kwargs = {
        name: _convert(hints[name], value, _join(key, name), base_dir)
        for name, value in raw.items()
    }
    missing = [n for n, f in fields.items() if n not in kwargs and _has_no_default(f)]
    if missing:
        raise ConfigError(f"missing key '{_join(key, missing[0])}'")
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(_join(key, str(err))) from None


def _convert(hint: Any, value: Any, key: str, base_dir: Path) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key, base_dir)
    if hint is FeatureSpec:
        return _feature_spec(value, base_dir)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, base_dir)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: must be one of {', '.join(map(str, args))}; got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        return tuple(_convert(args[0], v, f"{key}[{i}]", base_dir) for i, v in enumerate(value))
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path string, got {value!r}")
        return (base_dir / value).resolve()
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (bool, int, float, str):
        if type(value) is not hint:
            raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint}")


def _feature_spec(raw: dict, base_dir: Path) -> FeatureSpec:
    """The feature spec from the top-level ``task``, ``label``, ``features``, ``slices``.

    An image feature's ``weights`` path is resolved against ``base_dir`` and must exist.
    """
    label = raw.get("label")
    if label is None:
        raise ConfigError("missing key 'label'")
    if isinstance(label, str):
        label = {"name": label}
    if not isinstance(label, dict) or not isinstance(label.get("name"), str):
        raise ConfigError("label: expected a mapping with 'name' (and 'classes' to classify)")
    unknown = sorted(set(label) - {"name", "classes"})
    if unknown:
        raise ConfigError(f"unknown key 'label.{unknown[0]}'")
    declared = raw.get("features")
    if not isinstance(declared, dict) or not declared:
        raise ConfigError("features: expected a mapping of column name -> type (or options)")
    slices = raw.get("slices") or []
    if not isinstance(slices, list) or not all(isinstance(s, str) for s in slices):
        raise ConfigError("slices: expected a list of feature names")
    try:
        return FeatureSpec(
            task=raw.get("task", features.CLASSIFICATION),
            label=features.Label(label["name"], _label_classes(label.get("classes") or [])),
            features=tuple(
                _feature(str(name), value, base_dir) for name, value in declared.items()
            ),
            slices=tuple(slices),
        )
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _label_classes(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise ValueError("label.classes: expected a list of label values")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(
                f"label.classes[{i}]: expected text or an integer, got {value!r} "
                "(quote values YAML reads otherwise, such as yes, no, true, 1.5)"
            )
    return tuple(str(v) for v in values)


def _feature(name: str, declared: Any, base_dir: Path) -> features.Feature:
    try:
        feature = features.make_feature(name, declared)
    except ValueError as err:
        message = str(err)
        separator = "." if _OPTION_ERROR.match(message) else ": "
        raise ValueError(f"features.{name}{separator}{message}") from None
    return _with_weights_file(feature, base_dir)


def _with_weights_file(feature: features.Feature, base_dir: Path) -> features.Feature:
    """An image feature's ``weights`` as an absolute path to an existing file."""
    options = dict(feature.options)
    if not options.get("weights"):
        return feature
    path = (base_dir / options["weights"]).resolve()
    if not path.is_file():
        raise ValueError(
            f"features.{feature.name}.weights: no such file: {path} (nothing downloads at run "
            "time: give the path of a Keras weights file for the backbone)"
        )
    options["weights"] = str(path)
    return dataclasses.replace(feature, options=tuple(sorted(options.items())))


def _has_no_default(field: dataclasses.Field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
