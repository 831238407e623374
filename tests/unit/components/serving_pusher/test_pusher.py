"""pusher.py: version layout, atomic copies, history, retention, rollback, config, smoke test."""

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components import features
from components.serving_pusher import pusher
from components.trainer import export

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
BUCKETS = 4


class TinyModel(tf.Module):
    """A serving_raw-like signature over the real feature names; ``broken`` spoils its output."""

    def __init__(self, seed: int, broken: str | None = None):
        super().__init__()
        numeric, categorical = features.NUMERIC_FEATURE_KEYS, features.CATEGORICAL_FEATURE_KEYS
        width = len(numeric) + BUCKETS * len(categorical)
        weights = np.random.default_rng(seed).normal(size=(width, len(CLASSES)))
        self.weights = tf.Variable(weights.astype(np.float32))
        self.broken = broken
        self.serve_raw = tf.function(self._serve, input_signature=[export.dense_input_signature()])

    def _serve(self, dense):
        numbers = [
            tf.where(tf.math.is_nan(dense[k]), 0.0, dense[k]) / 100.0
            for k in features.NUMERIC_FEATURE_KEYS
        ]
        categories = [
            tf.one_hot(tf.strings.to_hash_bucket_fast(dense[k], BUCKETS), BUCKETS)
            for k in features.CATEGORICAL_FEATURE_KEYS
        ]
        inputs = tf.concat([tf.stack(numbers, axis=1), *categories], axis=1)
        probabilities = tf.nn.softmax(inputs @ self.weights)
        class_ids = tf.argmax(probabilities, axis=1)
        if self.broken == "nan":
            probabilities = probabilities * float("nan")
        elif self.broken == "shape":
            probabilities = probabilities[:, :1]
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(tf.constant(CLASSES), class_ids),
        }


def save_tiny_model(directory: Path, seed: int = 0, broken: str | None = None) -> Path:
    module = TinyModel(seed, broken)
    tf.saved_model.save(module, str(directory), signatures={"serving_raw": module.serve_raw})
    return directory


def smoke_inputs(n: int = 4) -> dict[str, np.ndarray]:
    numbers = np.linspace(1.0, 50.0, n).astype(np.float32)
    inputs = {k: numbers.copy() for k in features.NUMERIC_FEATURE_KEYS}
    inputs["body_mass_g"][0] = np.nan
    for key in features.CATEGORICAL_FEATURE_KEYS:
        inputs[key] = np.array(["a", "", "b", "c"][:n] + ["d"] * max(0, n - 4), dtype=object)
    return inputs


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "good": save_tiny_model(root / "good"),
        "nan": save_tiny_model(root / "nan", broken="nan"),
        "shape": save_tiny_model(root / "shape", broken="shape"),
    }


@pytest.fixture
def base(tmp_path) -> Path:
    return tmp_path / "serving" / "penguins"


def fake_model(directory: Path, files: int = 3, size: int = 100) -> Path:
    """A directory shaped like a SavedModel; enough for layout tests."""
    (directory / "variables").mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"m" * size)
    for i in range(files):
        (directory / "variables" / f"part-{i:04d}").write_bytes(bytes([i % 256]) * size)
    return directory


def numeric_dirs(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir() if p.name.isdigit())


def leftovers(base: Path) -> list[str]:
    return [p.name for p in base.iterdir() if p.name.startswith(".tmp-")]


# ---------------------------------------------------------------------------- layout, versions


def test_push_lays_out_increasing_versions_with_history(models, base):
    first = pusher.push_model(str(models["good"]), base, source_id="a")
    second = pusher.push_model(str(models["good"]), base, source_id="b")

    assert (first.version, second.version) == (1, 2)
    assert not first.already_served and not second.already_served
    assert second.path == base / "2"
    assert (base / "1" / "saved_model.pb").is_file()
    assert (base / "2" / "variables").is_dir()
    assert pusher.served_versions(base) == [1, 2]
    records = pusher.history(base)
    assert [(r["event"], r["version"], r["source_id"]) for r in records] == [
        ("push", 1, "a"),
        ("push", 2, "b"),
    ]
    assert records[0]["source"] == str(models["good"])
    assert records[0]["time"] <= records[1]["time"]
    assert tf.saved_model.load(str(base / "2")).signatures["serving_raw"] is not None


def test_next_version_starts_at_one_and_never_goes_back(tmp_path, base):
    assert pusher.next_version(base) == 1
    fake_model(base / "7")
    assert pusher.next_version(base) == 8
    fake_model(base / pusher.ROLLED_BACK_DIR / "9")
    assert pusher.next_version(base) == 10
    (base / pusher.HISTORY_FILE).write_text('{"event": "push", "version": 12}\n{"trunc')
    assert pusher.next_version(base) == 13


def test_explicit_version_is_used_once(tmp_path, base):
    source = fake_model(tmp_path / "src")
    assert pusher.push_model(str(source), base, version=40).path == base / "40"
    with pytest.raises(FileExistsError, match="40"):
        pusher.push_model(str(source), base, version=40)
    assert pusher.push_model(str(source), base).version == 41


def test_push_refuses_a_source_without_saved_model(tmp_path, base):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        pusher.push_model(str(tmp_path / "empty"), base)
    with pytest.raises(FileNotFoundError):
        pusher.push_model(str(tmp_path / "missing"), base)


# ---------------------------------------------------------------------------- atomicity


def test_a_concurrent_reader_never_sees_a_partial_version(tmp_path, base):
    source = fake_model(tmp_path / "src", files=300, size=32_768)
    expected = {p.relative_to(source): p.stat().st_size for p in source.rglob("*") if p.is_file()}
    base.mkdir(parents=True)
    seen, partial, done = [], [], threading.Event()

    def scan() -> None:
        while not done.is_set():
            for name in numeric_dirs(base):
                files = {
                    p.relative_to(base / name): p.stat().st_size
                    for p in (base / name).rglob("*")
                    if p.is_file()
                }
                seen.append(name)
                if files != expected:
                    partial.append((name, len(files)))

    reader = threading.Thread(target=scan)
    reader.start()
    try:
        for _ in range(3):
            pusher.push_model(str(source), base)
    finally:
        done.set()
        reader.join()

    assert partial == []
    assert seen, "the reader never saw a pushed version"
    assert numeric_dirs(base) == ["1", "2", "3"]
    assert leftovers(base) == []


def test_a_copy_failing_midway_leaves_no_version_behind(tmp_path, base):
    source = fake_model(tmp_path / "src", files=20)
    (source / "variables" / "zz-dangling").symlink_to(tmp_path / "nowhere")

    with pytest.raises(OSError, match="zz-dangling"):
        pusher.push_model(str(source), base)

    assert numeric_dirs(base) == []
    assert leftovers(base) == []
    assert pusher.history(base) == []


# ---------------------------------------------------------------------------- retention


def test_retention_keeps_the_newest(tmp_path, base):
    source = fake_model(tmp_path / "src")
    for _ in range(5):
        pusher.push_model(str(source), base)

    assert pusher.apply_retention(base, keep=2) == [1, 2, 3]
    assert pusher.served_versions(base) == [4, 5]
    assert pusher.apply_retention(base, keep=2) == []
    assert leftovers(base) == []
    assert pusher.next_version(base) == 6
    with pytest.raises(ValueError, match="keep"):
        pusher.apply_retention(base, keep=0)


# ---------------------------------------------------------------------------- already served


def test_the_served_source_is_not_copied_again(tmp_path, base):
    source = fake_model(tmp_path / "src")
    first = pusher.push_model(str(source), base, source_id="fingerprint-a")
    again = pusher.push_model(str(source), base, source_id="fingerprint-a")

    assert again == pusher.PushResult(first.version, base / "1", already_served=True)
    assert numeric_dirs(base) == ["1"]
    assert len(pusher.history(base)) == 1
    pusher.push_model(str(source), base, source_id="fingerprint-b")
    # "a" is on disk but no longer the served (highest) version: serving it needs a new one.
    assert pusher.push_model(str(source), base, source_id="fingerprint-a").version == 3


def test_directory_digest_follows_content(tmp_path):
    one = fake_model(tmp_path / "one")
    two = fake_model(tmp_path / "two")
    assert pusher.directory_digest(one) == pusher.directory_digest(two)
    (two / "variables" / "part-0001").write_bytes(b"changed")
    assert pusher.directory_digest(one) != pusher.directory_digest(two)


# ---------------------------------------------------------------------------- rollback


def test_rollback_moves_the_highest_aside_and_numbers_move_on(tmp_path, base):
    source = fake_model(tmp_path / "src")
    for source_id in ("a", "b", "c"):
        pusher.push_model(str(source), base, source_id=source_id)

    assert pusher.rollback(base) == pusher.RollbackResult(from_version=3, to_version=2)
    assert pusher.served_versions(base) == [1, 2]
    assert (base / pusher.ROLLED_BACK_DIR / "3" / "saved_model.pb").is_file()
    assert pusher.history(base)[-1]["event"] == "rollback"
    assert pusher.history(base)[-1]["versions"] == [3]
    # Re-pushing the rolled-back model gets a new number, never 3 again.
    assert pusher.push_model(str(source), base, source_id="c").version == 4


def test_rollback_to_a_given_version_moves_everything_above(tmp_path, base):
    source = fake_model(tmp_path / "src")
    for _ in range(4):
        pusher.push_model(str(source), base)

    assert pusher.rollback(base, to_version=2) == (4, 2)
    assert pusher.served_versions(base) == [1, 2]
    assert sorted(p.name for p in (base / pusher.ROLLED_BACK_DIR).iterdir()) == ["3", "4"]
    pusher.apply_retention(base, keep=1)
    assert pusher.next_version(base) == 5


@pytest.mark.parametrize(
    "pushes, to_version, message",
    [
        (0, None, "nothing to roll back"),
        (1, None, "only one served"),
        (2, 7, "not served"),
        (2, 2, "already the highest"),
    ],
)
def test_rollback_refuses_when_there_is_nothing_to_go_back_to(
    tmp_path, base, pushes, to_version, message
):
    source = fake_model(tmp_path / "src")
    for _ in range(pushes):
        pusher.push_model(str(source), base)

    with pytest.raises(pusher.RollbackError, match=message):
        pusher.rollback(base, to_version=to_version)
    assert pusher.served_versions(base) == list(range(1, pushes + 1))


# ---------------------------------------------------------------------------- config, files


def test_models_config_parses_as_tf_serving_config(tmp_path):
    root = tmp_path / "serving"
    path = pusher.write_models_config(root, ["penguins", "penguins-small"])

    assert path == root.resolve() / "models.config"
    config = text_format.Parse(path.read_text(), model_server_config_pb2.ModelServerConfig())
    entries = config.model_config_list.config
    assert [e.name for e in entries] == ["penguins", "penguins-small"]
    assert entries[0].base_path == str(root.resolve() / "penguins")
    assert os.path.isabs(entries[1].base_path)
    assert {e.model_platform for e in entries} == {"tensorflow"}


@pytest.mark.parametrize("names", [[], ["a", "a"], ["../etc"], ['a"b']])
def test_models_config_rejects_bad_names(tmp_path, names):
    with pytest.raises(ValueError):
        pusher.write_models_config(tmp_path, names)
    assert not (tmp_path / "models.config").exists()


def test_publish_files_appears_complete(tmp_path):
    files = [tmp_path / "model.tflite", tmp_path / "model_data.cc"]
    for i, file in enumerate(files):
        file.write_bytes(bytes([i]) * 1000)
    destination = tmp_path / "serving" / "penguins-tflite" / "3"

    assert pusher.publish_files(files, destination) == destination
    assert sorted(p.name for p in destination.iterdir()) == ["model.tflite", "model_data.cc"]
    assert (destination / "model_data.cc").read_bytes() == files[1].read_bytes()
    assert leftovers(destination.parent) == []
    assert pusher.publish_files(files, destination) == destination  # a re-run: same files
    files[0].write_bytes(b"retrained")
    with pytest.raises(FileExistsError, match="other content"):
        pusher.publish_files(files, destination)
    assert (destination / "model.tflite").read_bytes() == bytes([0]) * 1000


def test_publish_files_with_a_missing_file_creates_nothing(tmp_path):
    (tmp_path / "model.tflite").write_bytes(b"x")
    destination = tmp_path / "out" / "1"
    with pytest.raises(FileNotFoundError, match="absent"):
        pusher.publish_files([tmp_path / "model.tflite", tmp_path / "absent.cc"], destination)
    assert not destination.exists()


# ---------------------------------------------------------------------------- smoke test


def test_smoke_test_accepts_a_good_model(models):
    pusher.smoke_test(str(models["good"]), smoke_inputs())


@pytest.mark.parametrize(
    "model, signature, message",
    [
        ("nan", "serving_raw", "NaN"),
        ("shape", "serving_raw", r"shape \[4, 1\]"),
        ("good", "serving_default", "no signature 'serving_default'"),
        ("missing", "serving_raw", "cannot load"),
    ],
)
def test_smoke_test_refuses_a_broken_model_with_the_reason(
    models, tmp_path, model, signature, message
):
    directory = models.get(model, tmp_path / "missing")
    with pytest.raises(pusher.SmokeTestError, match=message) as caught:
        pusher.smoke_test(str(directory), smoke_inputs(), signature_key=signature)
    assert "\n" not in str(caught.value)


def test_smoke_test_refuses_inputs_the_signature_does_not_take(models):
    inputs = smoke_inputs()
    inputs["colour"] = inputs.pop("island")
    with pytest.raises(pusher.SmokeTestError, match="differ"):
        pusher.smoke_test(str(models["good"]), inputs)


def test_smoke_test_refuses_inputs_of_unequal_length(models):
    inputs = smoke_inputs()
    inputs["bill_length_mm"] = inputs["bill_length_mm"][:2]  # rows no longer line up
    with pytest.raises(pusher.SmokeTestError, match="share one non-zero length"):
        pusher.smoke_test(str(models["good"]), inputs)


def test_describe_error_skips_tensorflow_preamble():
    error = tf.errors.InvalidArgumentError(
        None,
        None,
        "Graph execution error:\n\nDetected at node X:\nCould not parse 'x'\n\t [[{{node X}}]]",
    )
    assert pusher.describe_error(error) == "InvalidArgumentError: Could not parse 'x'"
    assert pusher.describe_error(ValueError("")) == "ValueError: "


def test_check_outputs_wants_rows_summing_to_one():
    with pytest.raises(pusher.SmokeTestError, match="sum"):
        pusher.check_outputs({"probabilities": np.full((2, 3), 0.2, np.float32)}, 2)
    with pytest.raises(pusher.SmokeTestError, match="shape"):
        pusher.check_outputs({"probabilities": np.full((3, 2), 0.5, np.float32)}, 2)
