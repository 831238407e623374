"""``runner.py init``: a first pipeline config and schema for a CSV, with the reasons.

The CSV is read twice: once with Python's CSV parser, to profile every column (missing
values, distinct values, numbers or text, words per value), and once through the
pipeline's own CSV reader into tf.Examples, whose TFDV statistics give the inferred
schema (``tfdv.infer_schema``), so the schema sees the types CsvExampleGen will produce.
Nothing is written over an existing file unless asked to.
"""

import csv
import dataclasses
import json
import math
import os
import re
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path

from components import features
from pipeline.config import DEFAULT_MISSING_VALUES

# Values a spreadsheet, R or pandas writes for "missing": the config's default list.
MISSING_TOKENS = frozenset(DEFAULT_MISSING_VALUES)
# Distinct values tracked per column; more means "many".
_DISTINCT_CAP = 10_000
# An integer column with at most this many distinct values is typed categorical.
CATEGORICAL_MAX_DISTINCT = 20
# A label with at most this many distinct values is a class label.
CLASSIFICATION_MAX_CLASSES = 20
# Text: values of at least this many words on average.
TEXT_MIN_WORDS = 5.0
# Integer columns named like codes are categories whatever their count of values.
_CODE_NAME = re.compile(
    r"(^|_)(id|code|zip|zipcode|area|tract|district|region|type|category)$", re.I
)


class ScaffoldError(ValueError):
    """The data cannot be scaffolded; the message is one line naming the file or column."""


@dataclasses.dataclass
class ColumnProfile:
    """What one CSV column holds.

    Attributes:
        name: The header's name for it.
        present: Rows with a value (not a missing token).
        distinct: Distinct values, up to ``_DISTINCT_CAP``.
        integers: Every value parses as an integer.
        numbers: Every value parses as a number.
        mean_words: Words per value on average.
    """

    name: str
    present: int = 0
    values: set = dataclasses.field(default_factory=set)
    integers: bool = True
    numbers: bool = True
    words: int = 0

    @property
    def distinct(self) -> int:
        return len(self.values)

    @property
    def mean_words(self) -> float:
        return self.words / self.present if self.present else 0.0

    def add(self, value: str) -> None:
        self.present += 1
        if len(self.values) < _DISTINCT_CAP:
            self.values.add(value)
        self.words += len(value.split())
        if self.numbers:
            self.integers = self.integers and _is_int(value)
            self.numbers = self.integers or _is_float(value)


@dataclasses.dataclass(frozen=True)
class Guess:
    """One column's guessed role: a feature type (or None: left out) and why."""

    column: str
    type: str | None
    reason: str
    options: tuple[tuple[str, object], ...] = ()


@dataclasses.dataclass(frozen=True)
class Scaffold:
    """Everything ``init`` decided, ready to be written.

    Attributes:
        rows: Data rows read.
        task: classification or regression.
        task_reason: Why.
        classes: Class labels (classification), as their text.
        guesses: One per non-label column, in CSV order.
        baseline: The accuracy of always predicting the most frequent class, or the mean
            absolute error of always predicting the mean: what a model must beat.
    """

    name: str
    csv_dir: Path
    label: str
    rows: int
    task: str
    task_reason: str
    classes: tuple[str, ...]
    guesses: tuple[Guess, ...]
    baseline: float
    missing_labels: int = 0

    @property
    def features(self) -> tuple[Guess, ...]:
        return tuple(g for g in self.guesses if g.type)


def profile_csv_dir(csv_dir: Path) -> tuple[list[ColumnProfile], int]:
    """Profiles of every column over every ``*.csv`` file in ``csv_dir``, and the row count.

    Raises:
        ScaffoldError: No CSV file, an empty file, a header-only file, files whose headers
            differ, a row with the wrong number of fields, or bytes that are not UTF-8.
    """
    if not csv_dir.is_dir():
        raise ScaffoldError(f"--data {csv_dir}: not a directory")
    files = sorted(csv_dir.glob("*.csv"))
    if not files:
        raise ScaffoldError(f"{csv_dir}: no .csv file")
    others = sorted(
        p.name for p in csv_dir.iterdir() if p.suffix != ".csv" and not p.name.startswith(".")
    )
    if others:
        raise ScaffoldError(
            f"{csv_dir}: holds files ExampleGen would read as CSV: {', '.join(others)} "
            "(give the CSV files a directory of their own)"
        )
    profiles = [ColumnProfile(name) for name in _header(files[0])]
    rows = sum(_profile_file(path, profiles) for path in files)
    return profiles, rows


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = [name.strip() for name in next(csv.reader(f), [])]
    except UnicodeDecodeError as err:
        raise ScaffoldError(f"{path}: not UTF-8 text (byte {err.start} of the file)") from None
    if not header or header == [""]:
        raise ScaffoldError(f"{path}: empty file (no header row)")
    return header


def _profile_file(path: Path, profiles: list[ColumnProfile]) -> int:
    header = _header(path)
    if header != [p.name for p in profiles]:
        raise ScaffoldError(f"{path}: header differs from the first file's")
    rows = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader)
            for record in reader:
                if not record:
                    continue
                if len(record) != len(header):
                    raise ScaffoldError(
                        f"{path}, line {reader.line_num}: {len(record)} fields, "
                        f"the header has {len(header)}"
                    )
                rows += 1
                for profile, value in zip(profiles, record, strict=True):
                    if value.strip() not in MISSING_TOKENS:
                        profile.add(value.strip())
    except UnicodeDecodeError as err:
        raise ScaffoldError(f"{path}: not UTF-8 text (byte {err.start} of the file)") from None
    if rows == 0:
        raise ScaffoldError(f"{path}: no data rows below the header")
    return rows


def guess_type(profile: ColumnProfile, rows: int) -> Guess:
    """A column's feature type, or None to leave it out, with the reason in words."""
    name, distinct = profile.name, profile.distinct
    many = f"{distinct:,}" + ("+" if distinct >= _DISTINCT_CAP else "")
    if profile.present == 0:
        return Guess(name, None, "no values: left out")
    if distinct == 1:
        return Guess(name, None, "one value in every row: left out")
    if profile.integers:
        if distinct <= CATEGORICAL_MAX_DISTINCT:
            return Guess(name, "categorical", f"integers with {many} distinct values")
        if _CODE_NAME.search(name):
            reason = f"integers with {many} distinct values, named like a code"
            return Guess(name, "categorical", reason)
        return Guess(name, "numeric", f"integers with {many} distinct values")
    if profile.numbers:
        return Guess(name, "numeric", "decimal numbers")
    if profile.mean_words >= TEXT_MIN_WORDS:
        words = f"{profile.mean_words:.0f} words per value on average"
        return Guess(name, "text", f"free text, {words}")
    if distinct == profile.present and profile.present > 50:
        return Guess(name, None, "a different value in every row (an identifier): left out")
    if distinct > 1000:
        return Guess(
            name,
            "categorical",
            f"text with {many} distinct values: the 1,000 most frequent kept",
            (("top_k", 1000),),
        )
    return Guess(name, "categorical", f"text with {many} distinct values")


def scaffold(csv_dir: Path, label: str, name: str, task: str | None = None) -> Scaffold:
    """Profiles the CSV and guesses the task, the classes and every column's type.

    Raises:
        ScaffoldError: Unreadable data, an unknown label column, a label with no values, or
            a classification label with too many classes.
    """
    profiles, rows = profile_csv_dir(csv_dir)
    by_name = {p.name: p for p in profiles}
    if label not in by_name:
        raise ScaffoldError(f"--label {label}: no such column (columns: {', '.join(by_name)})")
    target = by_name[label]
    if target.present == 0:
        raise ScaffoldError(f"--label {label}: the column has no values")
    task, task_reason = _task(target, task)
    classes = _classes(target) if task == features.CLASSIFICATION else ()
    if task == features.CLASSIFICATION and len(classes) < 2:
        raise ScaffoldError(f"--label {label}: one class only ({classes[0]}); nothing to learn")
    guesses = tuple(guess_type(p, rows) for p in profiles if p.name != label)
    if not any(g.type for g in guesses):
        raise ScaffoldError("no column besides the label can be a feature")
    return Scaffold(
        name=name,
        csv_dir=csv_dir,
        label=label,
        rows=rows,
        task=task,
        task_reason=task_reason,
        classes=classes,
        guesses=guesses,
        baseline=_baseline(csv_dir, label, task),
        missing_labels=rows - target.present,
    )


def _task(target: ColumnProfile, task: str | None) -> tuple[str, str]:
    if task:
        return task, "as given by --task"
    if not target.numbers:
        return features.CLASSIFICATION, "the label is text"
    if target.integers and target.distinct <= CLASSIFICATION_MAX_CLASSES:
        return features.CLASSIFICATION, f"the label is integers with {target.distinct} values"
    return features.REGRESSION, f"the label is numbers with {target.distinct:,} distinct values"


def _classes(target: ColumnProfile) -> tuple[str, ...]:
    if target.distinct > CLASSIFICATION_MAX_CLASSES * 5:
        raise ScaffoldError(
            f"--label {target.name}: {target.distinct:,} distinct values are too many classes; "
            "use --task regression for a number"
        )
    key = (lambda v: (int(v), v)) if target.integers else (lambda v: (0, v))
    return tuple(sorted(target.values, key=key))


def _label_values(csv_dir: Path, label: str) -> Iterable[str]:
    for path in sorted(csv_dir.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                value = (row.get(label) or "").strip()
                if value not in MISSING_TOKENS:
                    yield value


def _baseline(csv_dir: Path, label: str, task: str) -> float:
    values = list(_label_values(csv_dir, label))
    if task == features.CLASSIFICATION:
        counts: dict[str, int] = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        return max(counts.values()) / len(values)
    numbers = [float(v) for v in values]
    mean = statistics.fmean(numbers)
    return statistics.fmean(abs(x - mean) for x in numbers)


def render_config(result: Scaffold, config_dir: Path, schema_path: Path) -> str:
    """The pipeline YAML ``init`` writes: every guess as a line the user can edit."""
    relative = _relative(result.csv_dir, config_dir)
    lines = [
        f"# Written by `runner.py init` from {result.rows:,} rows of {relative}: review every",
        "# guess below (types, classes, thresholds) before the first run.",
        f"name: {result.name}",
        "work_dir: ../work",
        "",
        f"task: {result.task:<25}# {result.task_reason}",
        "label:",
        f"  name: {_yaml_key(result.label)}",
    ]
    if result.classes:
        lines.append(f"  classes: [{', '.join(_yaml_scalar(c) for c in result.classes)}]")
    lines.append("features:")
    for guess in result.guesses:
        declared = _declaration(guess)
        line = f"  {'# ' if guess.type is None else ''}{_yaml_key(guess.column)}: {declared}"
        lines.append(f"{line:<40}# {guess.reason}")
    lines += [
        "",
        "data:",
        f"  csv_dir: {relative}",
        "  splits: {train: 7, eval: 2, test: 1}",
        "",
        "validation:",
        f"  schema_path: {_relative(schema_path, config_dir)}",
        "  on_anomalies: fail",
        "",
        "trainer:",
        "  hyperparameters:",
        f"    batch_size: {32 if result.rows < 5000 else 128}",
        "    epochs: 30",
        "",
        "evaluator:",
        *_thresholds(result),
    ]
    return "\n".join(lines) + "\n"


def _declaration(guess: Guess) -> str:
    type_name = guess.type or "numeric"
    if not guess.options:
        return type_name
    options = ", ".join(f"{k}: {v}" for k, v in guess.options)
    return f"{{type: {type_name}, {options}}}"


def _thresholds(result: Scaffold) -> list[str]:
    if result.task == features.CLASSIFICATION:
        floor = math.ceil(result.baseline * 100) / 100
        return [
            f"  min_accuracy: {floor:.2f}        # always guessing the most frequent class "
            f"scores {result.baseline:.3f}",
            "  max_accuracy_drop: 0.01",
        ]
    return [
        "  error_metric: mae",
        f"  max_error: {result.baseline:.4g}        # always predicting the mean scores this MAE",
        "  max_error_increase: 0.05",
    ]


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when both lie in one project, else absolute."""
    path, start = path.resolve(), start.resolve()
    if not path.is_relative_to(start.parent):
        return path.as_posix()
    return Path(os.path.relpath(path, start)).as_posix()


def _yaml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][\w.-]*", name) else f'"{name}"'


def _yaml_scalar(value: str) -> str:
    """An integer bare; any other text double-quoted (YAML reads a bare yes/no as a bool)."""
    return value if re.fullmatch(r"-?\d+", value) else json.dumps(value)


def infer_schema_text(csv_dir: Path, scratch_dir: Path) -> str:
    """The schema TFDV infers from the CSV's statistics, as text-format protobuf.

    The CSV goes through the pipeline's own reader (``components.csv_example_gen``) with
    the default missing-value tokens into tf.Examples under ``scratch_dir``, so the
    inferred types are those CsvExampleGen will give.
    """
    import apache_beam as beam
    import tensorflow_data_validation as tfdv
    from google.protobuf import text_format

    from components.csv_example_gen.csv_source import CsvToExamples

    prefix = str(scratch_dir / "examples")
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | CsvToExamples([str(p) for p in sorted(csv_dir.glob("*.csv"))], DEFAULT_MISSING_VALUES)
            | beam.Map(lambda example: example.SerializeToString())
            | beam.io.WriteToTFRecord(prefix)
        )
    stats = tfdv.generate_statistics_from_tfrecord(data_location=f"{prefix}*")
    schema = tfdv.infer_schema(stats, infer_feature_shape=False)
    header = "# Inferred by TFDV for `runner.py init`; review it like code.\n"
    return header + text_format.MessageToString(schema)


def write_files(
    result: Scaffold, config_path: Path, schema_path: Path, schema_text: str, force: bool
) -> list[Path]:
    """Writes the config and schema; refuses to overwrite either unless ``force``.

    Raises:
        ScaffoldError: A file exists and ``force`` is False (nothing is written then).
    """
    existing = [p for p in (config_path, schema_path) if p.exists()]
    if existing and not force:
        raise ScaffoldError(
            f"{existing[0]} exists (a reviewed file is never overwritten; --force replaces it)"
        )
    schema_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    schema_path.write_text(schema_text)
    config_path.write_text(render_config(result, config_path.parent, schema_path))
    return [config_path, schema_path]


def describe(result: Scaffold) -> Sequence[str]:
    """The lines ``init`` prints: the task and each column's guess with its reason."""
    lines = [f"{result.rows:,} rows; task {result.task} ({result.task_reason})"]
    if result.missing_labels:
        lines.append(
            f"  WARNING: {result.missing_labels:,} rows have no {result.label}: remove them, "
            "the DataGate stops a run on a missing label"
        )
    if result.classes:
        lines.append(f"  classes: {', '.join(result.classes)}")
    width = max(len(g.column) for g in result.guesses)
    for guess in result.guesses:
        declared = guess.type or "-"
        lines.append(f"  {guess.column:<{width}}  {declared:<12} {guess.reason}")
    return lines


def _is_int(value: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", value) is not None


def _is_float(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
