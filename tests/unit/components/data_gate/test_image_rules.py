"""The DataGate's image rules on what the real ImageExampleGen, StatisticsGen, SchemaGen and
ExampleValidator executors write, and on hand-made image statistics."""

import json
from pathlib import Path

import pytest
from ingest_images import corrupt_png, pillow, png, truncated_jpeg, write
from tfx.components.example_validator import executor as validator_executor
from tfx.components.schema_gen import executor as schema_executor
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.types import standard_artifacts

from components.data_gate.anomalies import AnomaliesFoundError
from components.data_gate.component import DataGate
from components.data_gate.image_rules import ImageStats, image_anomalies

CLASSES = ["a", "b", "c"]


def gate_artifacts(run_image_example_gen, root: Path, out: Path):
    """Image folder -> (ExampleStatistics, ExampleAnomalies) through the real executors; the
    schema is inferred from the same statistics, so only the image rules can object."""
    examples = run_image_example_gen(root, out / "examples")
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(out / "statistics")
    statistics_executor.Executor().Do(
        {"examples": [examples]}, {"statistics": [statistics]}, {"exclude_splits": "[]"}
    )
    schema = standard_artifacts.Schema()
    schema.uri = str(out / "schema")
    schema_executor.Executor().Do(
        {"statistics": [statistics]},
        {"schema": [schema]},
        {"infer_feature_shape": 0, "exclude_splits": "[]"},
    )
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(out / "anomalies")
    validator_executor.Executor().Do(
        {"statistics": [statistics], "schema": [schema]},
        {"anomalies": [anomalies]},
        {"exclude_splits": "[]"},
    )
    return statistics, anomalies


def gate(artifacts, classes=CLASSES, **overrides) -> None:
    statistics, anomalies = artifacts
    args = {
        "min_examples": json.dumps({}),
        "label_key": "label",
        "label_classes": json.dumps(classes),
        "image_data": True,
        "max_class_share": 0.9,
        **overrides,
    }
    DataGate.test_call(statistics=statistics, anomalies=anomalies, **args)


def good_images(count: int = 10, classes=CLASSES) -> dict[str, bytes]:
    return {f"{c}/{i:02d}.png": png(seed=i) for c in classes for i in range(count)}


@pytest.fixture(scope="module")
def clean(run_image_example_gen, tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    return gate_artifacts(run_image_example_gen, write(root / "images", good_images()), root)


@pytest.fixture(scope="module")
def broken(run_image_example_gen, tmp_path_factory):
    """Good images, and one of each kind of bad file; class folder d is empty."""
    root = tmp_path_factory.mktemp("broken")
    files = {
        **good_images(),
        "a/bad.png": corrupt_png(),
        "b/cut.jpg": truncated_jpeg(),
        "c/notes.txt": b"scanned on 2019-03-01",
        "c/anim.gif": pillow("GIF"),
    }
    write(root / "images", files)
    (root / "images" / "d").mkdir()
    return gate_artifacts(run_image_example_gen, root / "images", root)


BROKEN_LINES = [
    "file a/bad.png: PNG that cannot be decoded: Invalid PNG. Failed to initialize decoder.",
    "file b/cut.jpg: truncated JPEG (no end marker): jpeg::Uncompress failed. "
    "Invalid JPEG data or crop window.",
    "file c/anim.gif: gif image, not one of the accepted formats png, jpeg",
    "file c/notes.txt: not an image (no PNG, JPEG, GIF or BMP signature)",
    "class 'd' has no images (its class folder is empty or missing)",
]


def test_clean_images_pass_the_gate(clean):
    gate(clean)


def test_each_bad_file_and_the_empty_class_is_one_line(broken):
    with pytest.raises(AnomaliesFoundError) as raised:
        gate(broken, classes=[*CLASSES, "d"])
    message = str(raised.value)
    assert "\n" not in message
    assert message == "image data anomalies: " + "; ".join(BROKEN_LINES)


def test_warn_logs_the_image_anomalies_and_goes_on(broken, caplog):
    gate(broken, classes=[*CLASSES, "d"], fail_on_anomalies=False)
    logged = [r.getMessage() for r in caplog.records if "Image data anomaly" in r.getMessage()]
    assert logged == [f"Image data anomaly: {line}" for line in BROKEN_LINES]


def test_csv_data_skips_the_image_rules(broken):
    gate(broken, classes=[*CLASSES, "d"], image_data=False)  # the schema was inferred here


def test_a_class_above_the_share_is_one_line(run_image_example_gen, tmp_path):
    files = {f"a/{i:02d}.png": png(seed=i) for i in range(95)}
    files.update({f"b/{i:02d}.png": png(seed=i) for i in range(5)})
    artifacts = gate_artifacts(run_image_example_gen, write(tmp_path / "images", files), tmp_path)
    with pytest.raises(AnomaliesFoundError) as raised:
        gate(artifacts, classes=["a", "b"])
    assert str(raised.value) == (
        "image data anomalies: class 'a' holds 95% of the images (95 of 100), "
        "more than data.max_class_share 0.9"
    )
    gate(artifacts, classes=["a", "b"], max_class_share=0.95)


def test_many_bad_files_are_named_up_to_ten_then_counted():
    stats = ImageStats(
        num_examples=40,
        class_counts={"a": 20, "b": 20},
        file_problems=tuple(f"a/{i:02d}.png: empty file" for i in range(12)),
        files_with_problems=25,
    )
    lines = image_anomalies(stats, ["a", "b"], max_class_share=0.9)
    assert lines[:2] == ["file a/00.png: empty file", "file a/01.png: empty file"]
    assert len(lines) == 11
    assert lines[-1] == (
        "and 15 more files with problems (the image_error feature's statistics list them)"
    )


@pytest.mark.parametrize(
    ("counts", "share", "expected"),
    [
        ({"a": 9, "b": 1}, 0.9, []),  # exactly the share is allowed
        ({"a": 91, "b": 9}, 0.9, ["class 'a' holds 91% of the images (91 of 100), more than "
                                  "data.max_class_share 0.9"]),
        ({"a": 1, "b": 1}, 0.5, []),
        ({}, 0.9, []),
    ],
)  # fmt: skip
def test_class_share(counts, share, expected):
    stats = ImageStats(sum(counts.values()), counts, (), 0)
    assert image_anomalies(stats, [], share) == expected
