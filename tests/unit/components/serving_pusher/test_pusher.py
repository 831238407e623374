"""pusher.py and the ServingPusher executor.

Version layout, atomic copies, history, retention, rollback, config, smoke test per task,
model-name ownership; and sources on a remote-style filesystem (TensorFlow's in-process
``ram://``).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from penguins_spec import CATEGORICAL, NUMERIC
from tensorflow_serving.config import model_server_config_pb2
from tfx import types
from tfx.types import standard_artifacts
from tiny_models import save_examples_model, smoke_inputs

from components import process_owner
from components.serving_pusher import pusher, smoke_test
from components.serving_pusher.component import Executor, ServingPusher


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


def upload(local: Path, uri: str) -> str:
    """Copies a local directory tree to ``uri`` through tf.io.gfile."""
    for directory, _, files in os.walk(local):
        target = os.path.join(uri, os.path.relpath(directory, local)).removesuffix("/.")
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(os.path.join(directory, name), f"{target}/{name}")
    return uri


def write_uri(uri: str, data: bytes) -> str:
    tf.io.gfile.makedirs(os.path.dirname(uri))
    with tf.io.gfile.GFile(uri, "wb") as handle:
        handle.write(data)
    return uri


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


def test_retention_removes_the_tflite_files_of_removed_versions(tmp_path, base):
    source = fake_model(tmp_path / "src")
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"flatbuffer")
    for version in (1, 2, 3):
        pusher.push_model(str(source), base)
        pusher.publish_tflite(base, version, [str(tflite)])

    assert pusher.apply_retention(base, keep=1) == [1, 2]
    tflite_base = pusher.tflite_base_path(base)
    assert sorted(p.name for p in tflite_base.iterdir()) == ["3"]
    assert (tflite_base / "3" / "model.tflite").read_bytes() == b"flatbuffer"


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

    assert pusher.rollback(base) == pusher.RollbackResult(3, 2, moved=(3,), tflite_moved=())
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

    assert pusher.rollback(base, to_version=2)[:3] == (4, 2, (3, 4))
    assert pusher.served_versions(base) == [1, 2]
    assert sorted(p.name for p in (base / pusher.ROLLED_BACK_DIR).iterdir()) == ["3", "4"]
    pusher.apply_retention(base, keep=1)
    assert pusher.next_version(base) == 5


def test_rollback_moves_the_tflite_files_of_the_versions_it_takes_back(tmp_path, base):
    source = fake_model(tmp_path / "src")
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"TFL3")
    for _ in range(3):
        version = pusher.push_model(str(source), base).version
        pusher.publish_tflite(base, version, [tflite])
    tflite_base = base.parent / "penguins-tflite"
    assert pusher.tflite_base_path(base) == tflite_base

    result = pusher.rollback(base, to_version=1)

    assert (result.moved, result.tflite_moved) == ((2, 3), (2, 3))
    assert numeric_dirs(tflite_base) == ["1"]
    aside = tflite_base / pusher.ROLLED_BACK_DIR
    assert (aside / "3" / "model.tflite").read_bytes() == b"TFL3"
    assert sorted(p.name for p in aside.iterdir()) == ["2", "3"]
    assert pusher.history(base)[-1]["tflite_versions"] == [2, 3]
    # A version pushed without TFLite files rolls back without them.
    pusher.push_model(str(source), base)
    assert pusher.rollback(base).tflite_moved == ()
    assert numeric_dirs(tflite_base) == ["1"]


def test_tflite_files_are_published_only_for_a_served_version(tmp_path, base):
    source = fake_model(tmp_path / "src")
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"TFL3")
    pusher.push_model(str(source), base)
    pusher.push_model(str(source), base)
    pusher.rollback(base)

    with pytest.raises(FileNotFoundError, match="version 2 is not served"):
        pusher.publish_tflite(base, 2, [tflite])
    assert not (pusher.tflite_base_path(base) / "2").exists()


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


# ---------------------------------------------------------------------------- ownership


def test_the_first_push_claims_the_model_name_for_its_pipeline(tmp_path, base):
    source = fake_model(tmp_path / "src")
    pusher.push_model(str(source), base, pipeline_name="penguins")

    assert pusher.model_owner(base) == "penguins"
    assert json.loads((base / pusher.OWNER_FILE).read_text())["pipeline"] == "penguins"
    assert pusher.history(base)[-1]["pipeline"] == "penguins"
    # The owner pushes again; a push by hand (no pipeline) is not checked.
    assert pusher.push_model(str(source), base, pipeline_name="penguins").version == 2
    assert pusher.push_model(str(source), base).version == 3
    assert leftovers(base) == []


def test_another_pipeline_cannot_push_into_a_claimed_model_name(tmp_path, base):
    source = fake_model(tmp_path / "src")
    pusher.push_model(str(source), base, pipeline_name="penguins")

    with pytest.raises(pusher.ModelOwnershipError) as caught:
        pusher.push_model(str(source), base, source_id="other", pipeline_name="taxi")

    message = str(caught.value)
    assert "\n" not in message
    assert "belongs to pipeline 'penguins'" in message and "pipeline 'taxi'" in message
    assert "pusher.model_name" in message and "'penguins'" in message
    assert numeric_dirs(base) == ["1"] and len(pusher.history(base)) == 1
    with pytest.raises(pusher.ModelOwnershipError):
        pusher.check_owner(base, "taxi")
    pusher.check_owner(base, "penguins")
    pusher.check_owner(base.parent / "taxi", "taxi")  # an unclaimed name is free


def test_a_model_pushed_before_owners_were_recorded_is_claimed_by_the_next_push(tmp_path, base):
    source = fake_model(tmp_path / "src")
    pusher.push_model(str(source), base)
    assert pusher.model_owner(base) is None

    pusher.push_model(str(source), base, pipeline_name="penguins")

    assert pusher.model_owner(base) == "penguins"
    with pytest.raises(pusher.ModelOwnershipError):
        pusher.push_model(str(source), base, pipeline_name="taxi")


def test_an_unreadable_owner_file_refuses_every_pipeline(tmp_path, base):
    base.mkdir(parents=True)
    (base / pusher.OWNER_FILE).write_text("{not json")
    with pytest.raises(pusher.ModelOwnershipError, match="cannot read the model's owner"):
        pusher.push_model(str(fake_model(tmp_path / "src")), base, pipeline_name="penguins")
    assert numeric_dirs(base) == []


# ---------------------------------------------------------------------------- remote sources


def test_a_saved_model_on_a_remote_filesystem_is_pushed(models, base, ram):
    source = upload(models["good"], f"{ram}/good")
    digest = pusher.directory_digest(source)
    assert digest == pusher.directory_digest(models["good"])

    first = pusher.push_model(source, base, source_id=digest)
    again = pusher.push_model(source, base, source_id=digest)

    assert first == pusher.PushResult(1, base / "1", already_served=False)
    assert (base / "1" / "saved_model.pb").is_file()
    assert pusher.directory_digest(base / "1") == digest
    assert again.already_served and again.version == 1
    assert pusher.history(base)[0]["source"] == source
    smoke_test.smoke_test(source, smoke_inputs())


def test_source_files_are_the_same_list_wherever_the_tree_lives(models, ram):
    source = upload(models["good"], f"{ram}/good")
    local = sorted(
        (
            p.relative_to(models["good"]).as_posix()
            for p in models["good"].rglob("*")
            if p.is_file()
        ),
        key=lambda name: name.split("/"),
    )
    assert pusher.source_files(source) == pusher.source_files(models["good"]) == local
    assert pusher.source_files(f"{ram}/missing") == []


def test_a_remote_source_without_saved_model_is_refused(base, ram):
    write_uri(f"{ram}/empty/variables/part", b"x")
    with pytest.raises(FileNotFoundError, match="saved_model.pb"):
        pusher.push_model(f"{ram}/empty", base)
    assert not base.exists() or numeric_dirs(base) == []


def test_tflite_files_are_published_from_a_remote_filesystem(tmp_path, ram):
    files = [
        write_uri(f"{ram}/tflite/Format-Serving/tflite", b"TFL3" * 10),
        write_uri(f"{ram}/tflite/micro/model_data.cc", b"const unsigned char x[] = {};"),
    ]
    destination = tmp_path / "serving" / "penguins-tflite" / "1"

    assert pusher.publish_files(files, destination) == destination
    assert sorted(p.name for p in destination.iterdir()) == ["model_data.cc", "tflite"]
    assert (destination / "tflite").read_bytes() == b"TFL3" * 10
    assert pusher.publish_files(files, destination) == destination  # idempotent
    write_uri(files[0], b"retrained")
    with pytest.raises(FileExistsError, match="other content"):
        pusher.publish_files(files, destination)
    with pytest.raises(FileNotFoundError, match="absent"):
        pusher.publish_files([f"{ram}/tflite/absent"], tmp_path / "other")


@pytest.mark.parametrize("root", ["gs://bucket/serving", "ram://serving"])
@pytest.mark.parametrize(
    "call",
    [
        lambda root, source: pusher.push_model(source, f"{root}/penguins"),
        lambda root, source: pusher.rollback(f"{root}/penguins"),
        lambda root, source: pusher.apply_retention(f"{root}/penguins", keep=1),
        lambda root, source: pusher.write_models_config(root, ["penguins"]),
        lambda root, source: pusher.publish_files([source], f"{root}/penguins-tflite/1"),
        lambda root, source: pusher.served_versions(f"{root}/penguins"),
    ],
    ids=["push", "rollback", "retention", "config", "publish", "versions"],
)
def test_a_serving_root_that_is_a_uri_is_refused_in_one_line(models, root, call):
    with pytest.raises(ValueError, match="serving_root") as caught:
        call(root, str(models["good"]))
    assert "\n" not in str(caught.value)
    assert root in str(caught.value)


# ---------------------------------------------------------------------------- executor


def example_records(n: int = 8) -> list[bytes]:
    """Serialized tf.Examples of ``smoke_inputs``; a NaN or "" value is left out."""
    inputs, records = smoke_inputs(n), []
    for i in range(n):
        example = tf.train.Example()
        for key in NUMERIC:
            if not np.isnan(inputs[key][i]):
                example.features.feature[key].float_list.value.append(inputs[key][i])
        for key in CATEGORICAL:
            if inputs[key][i]:
                example.features.feature[key].bytes_list.value.append(inputs[key][i].encode())
        records.append(example.SerializeToString())
    return records


def artifact(kind: type, uri: str, **int_properties: int) -> types.Artifact:
    instance = kind()
    instance.uri = uri
    for name, value in int_properties.items():
        instance.set_int_custom_property(name, value)
    return instance


def executor_inputs(
    ram: str, task: str = "classification", tflite_blessed: int = 1, micro_blessed: int = 1
) -> dict[str, list[types.Artifact]]:
    """Model, blessing, examples and a TFLite artifact (both forms), all under ``ram://``."""
    save_examples_model(f"{ram}/model/Format-Serving", task=task)
    tf.io.gfile.makedirs(f"{ram}/examples/Split-eval")
    path = f"{ram}/examples/Split-eval/data_tfrecord-00000-of-00001.gz"
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in example_records():
            writer.write(record)
    write_uri(f"{ram}/tflite/Format-Serving/tflite", b"TFL3 model")
    write_uri(f"{ram}/tflite/micro/model.tflite", b"TFL3 micro")
    write_uri(f"{ram}/tflite/micro/model_data.cc", b"// model")
    tflite = artifact(
        standard_artifacts.Model,
        f"{ram}/tflite",
        tflite_blessed=tflite_blessed,
        micro_blessed=micro_blessed,
    )
    return {
        "model": [artifact(standard_artifacts.Model, f"{ram}/model")],
        "model_blessing": [artifact(standard_artifacts.ModelBlessing, f"{ram}/bless", blessed=1)],
        "examples": [artifact(standard_artifacts.Examples, f"{ram}/examples")],
        "tflite_model": [tflite],
    }


@pytest.fixture
def remote_inputs(ram) -> dict[str, list[types.Artifact]]:
    """A classifier with a blessed TFLite and a blessed micro model, under ``ram://``."""
    return executor_inputs(ram)


def run_executor(
    inputs: dict,
    serving_root: str,
    ram: str,
    pipeline_name: str = "penguins",
    task: str | None = None,
) -> types.Artifact:
    pushed = artifact(standard_artifacts.PushedModel, f"{ram}/pushed-{uuid.uuid4().hex}")
    properties = {
        "serving_root": serving_root,
        "model_name": "penguins",
        "keep_versions": 2,
        "owner_pipeline": pipeline_name,
        "task": task,
    }
    Executor().Do(inputs, {"pushed_model": [pushed]}, properties)
    return pushed


def test_executor_pushes_and_publishes_artifacts_from_a_remote_filesystem(
    remote_inputs, tmp_path, ram
):
    serving_root = tmp_path / "serving"
    pushed = run_executor(remote_inputs, str(serving_root), ram)

    version_dir = serving_root / "penguins" / "1"
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_version") == "1"
    assert pushed.get_string_custom_property("pushed_destination") == str(version_dir)
    assert pusher.directory_digest(version_dir) == pusher.directory_digest(
        f"{ram}/model/Format-Serving"
    )
    assert (serving_root / pusher.MODELS_CONFIG_FILE).is_file()
    tflite_dir = serving_root / "penguins-tflite" / "1"
    assert pushed.get_string_custom_property("pushed_tflite_destination") == str(tflite_dir)
    assert (tflite_dir / "tflite").read_bytes() == b"TFL3 model"
    assert (tflite_dir / "model.tflite").read_bytes() == b"TFL3 micro"
    assert (tflite_dir / "model_data.cc").read_bytes() == b"// model"

    again = run_executor(remote_inputs, str(serving_root), ram)
    assert again.get_int_custom_property("already_served") == 1
    assert again.get_string_custom_property("pushed_version") == "1"
    assert numeric_dirs(serving_root / "penguins") == ["1"]


def test_executor_refuses_a_serving_root_that_is_a_uri(remote_inputs, ram):
    with pytest.raises(ValueError, match="serving_root") as caught:
        run_executor(remote_inputs, "gs://bucket/serving", ram)
    assert "\n" not in str(caught.value)


def test_component_refuses_a_serving_root_that_is_a_uri():
    with pytest.raises(ValueError, match="serving_root.*ram://serving"):
        ServingPusher(
            model=types.Channel(type=standard_artifacts.Model),
            model_blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            examples=types.Channel(type=standard_artifacts.Examples),
            serving_root="ram://serving",
            model_name="penguins",
            keep_versions=2,
            owner_pipeline="penguins",
        )


@pytest.mark.parametrize(
    ("tflite_blessed", "micro_blessed", "published"),
    [
        (1, 0, ["tflite"]),
        (0, 1, ["model.tflite", "model_data.cc"]),
        (0, 0, None),
    ],
    ids=["tflite-only", "micro-only", "neither"],
)
def test_executor_publishes_only_the_blessed_forms(
    tmp_path, ram, tflite_blessed, micro_blessed, published
):
    inputs = executor_inputs(ram, tflite_blessed=tflite_blessed, micro_blessed=micro_blessed)
    serving_root = tmp_path / "serving"

    pushed = run_executor(inputs, str(serving_root), ram)

    assert pushed.get_int_custom_property("pushed") == 1
    tflite_dir = serving_root / "penguins-tflite" / "1"
    if published is None:
        assert not tflite_dir.exists()
        assert not pushed.has_custom_property("pushed_tflite_destination")
    else:
        assert sorted(p.name for p in tflite_dir.iterdir()) == published


def test_executor_smoke_tests_and_pushes_a_regression_model(tmp_path, ram):
    serving_root = tmp_path / "serving"
    pushed = run_executor(
        executor_inputs(ram, task="regression"), str(serving_root), ram, task="regression"
    )
    assert pushed.get_string_custom_property("pushed_version") == "1"
    assert pusher.served_versions(serving_root / "penguins") == [1]


def test_executor_refuses_a_model_whose_task_is_not_the_pipelines(tmp_path, ram):
    serving_root = tmp_path / "serving"
    with pytest.raises(smoke_test.SmokeTestError, match="no 'predictions' output"):
        run_executor(executor_inputs(ram), str(serving_root), ram, task="regression")
    assert not (serving_root / "penguins").exists() or numeric_dirs(serving_root / "penguins") == []


def test_executor_refuses_to_push_into_another_pipelines_model_name(remote_inputs, tmp_path, ram):
    serving_root = tmp_path / "serving"
    run_executor(remote_inputs, str(serving_root), ram, pipeline_name="penguins")
    history = pusher.history(serving_root / "penguins")

    other = executor_inputs(f"{ram}/other")
    with pytest.raises(pusher.ModelOwnershipError) as caught:
        run_executor(other, str(serving_root), ram, pipeline_name="penguins-regression")

    message = str(caught.value)
    assert "\n" not in message
    assert "'penguins'" in message and "'penguins-regression'" in message
    assert "pusher.model_name" in message
    assert numeric_dirs(serving_root / "penguins") == ["1"]
    assert pusher.history(serving_root / "penguins") == history
    assert numeric_dirs(serving_root / "penguins-tflite") == ["1"]


# ---------------------------------------------------------------------------- stale staging

REPO = Path(__file__).resolve().parents[4]
PUSH_CHILD = """
import sys
from components.serving_pusher import pusher
pusher.push_model(sys.argv[1], sys.argv[2])
"""
PUBLISH_CHILD = """
import sys
from pathlib import Path
from components.serving_pusher import pusher
files = sorted(str(p) for p in Path(sys.argv[1]).iterdir())
pusher.publish_files(files, sys.argv[2])
"""


def start_child(script: str, *args: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], cwd=REPO)


def wait_for_staging(directory: Path, child: subprocess.Popen, timeout: float = 120) -> str:
    """The name of the child's staging copy, as soon as it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if directory.is_dir() and (found := leftovers(directory)):
            return found[0]
        assert child.poll() is None, "the child finished before its staging copy was seen"
        time.sleep(0.005)
    raise AssertionError(f"no staging copy in {directory} within {timeout} s")


def many_files(directory: Path, count: int = 800, size: int = 4096) -> Path:
    directory.mkdir()
    for i in range(count):
        (directory / f"f{i:05d}").write_bytes(bytes([i % 256]) * size)
    return directory


def test_a_push_removes_the_staging_copy_of_a_push_killed_midway(tmp_path, base):
    big = fake_model(tmp_path / "big", files=800, size=4096)
    base.mkdir(parents=True)
    killed = start_child(PUSH_CHILD, big, base)
    staging = wait_for_staging(base, killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert leftovers(base) == [staging] and numeric_dirs(base) == []
    assert staging.startswith(".tmp-1.") and staging.endswith(f"@{process_owner.host_name()}")

    result = pusher.push_model(str(fake_model(tmp_path / "small")), base)

    assert (result.version, result.stale_staging) == (1, (staging,))
    assert leftovers(base) == [] and numeric_dirs(base) == ["1"]


def test_a_push_leaves_the_staging_copy_of_a_live_writer_alone(tmp_path, base):
    tflite_dir = pusher.tflite_base_path(base)
    source = many_files(tmp_path / "tflite")
    live = start_child(PUBLISH_CHILD, source, tflite_dir / "7")
    try:
        wait_for_staging(tflite_dir, live)
        result = pusher.push_model(str(fake_model(tmp_path / "small")), base)
        still_copying = live.poll() is None
    finally:
        assert live.wait(timeout=120) == 0  # its copy was not pulled from under it

    assert still_copying, "the live copy finished before the push; make it larger"
    assert result.stale_staging == ()
    assert leftovers(tflite_dir) == []  # its owner renamed it into place
    assert sorted(p.name for p in (tflite_dir / "7").iterdir()) == sorted(
        p.name for p in source.iterdir()
    )


def test_stale_staging_from_elsewhere_is_judged_by_age(tmp_path):
    directory = tmp_path / "penguins"
    directory.mkdir()
    lock_taken = time.time()
    names = {
        "old_elsewhere": ".tmp-3.4242.99@another-host",
        "new_elsewhere": ".tmp-4.4242.99@another-host",
        "old_format": ".tmp-5-4242",
        "reused_pid": f".tmp-6.{os.getpid()}.1@{process_owner.host_name()}",
        "mine": pusher.staging_name("8"),
    }
    for name in names.values():
        (directory / name).mkdir()
    for key in ("old_elsewhere", "old_format", "mine"):
        os.utime(directory / names[key], (lock_taken - 60, lock_taken - 60))
    os.utime(directory / names["new_elsewhere"], (lock_taken + 1, lock_taken + 1))

    removed = pusher.remove_stale_staging(directory, older_than=lock_taken)

    stale = ("old_elsewhere", "old_format", "reused_pid")
    assert removed == sorted(names[key] for key in stale)
    assert sorted(leftovers(directory)) == sorted([names["new_elsewhere"], names["mine"]])
