"""ImageExampleGen's driver and executor, configured as the pipeline does, on real folders."""

import os
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from ingest_images import png, truncated_jpeg, write
from tfx.types import artifact_utils

from components.examples_io import read_serialized_examples
from components.image_example_gen import keys
from components.image_example_gen.image_source import ImageFolderError

REPO = Path(__file__).resolve().parents[4]
DIGITS = REPO / "data" / "digits"


def splits_of(examples) -> dict[str, str]:
    """file name -> split."""
    found = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        for record in read_serialized_examples(examples.uri, split):
            example = tf.train.Example.FromString(record)
            found[example.features.feature["file_name"].bytes_list.value[0].decode()] = split
    return found


@pytest.fixture(scope="module")
def digits(run_image_example_gen, tmp_path_factory):
    return run_image_example_gen(DIGITS, tmp_path_factory.mktemp("digits") / "out")


def test_shipped_digits_split_7_2_1_with_every_key(digits):
    where = splits_of(digits)
    assert len(where) == 1797
    counts = {s: sum(1 for v in where.values() if v == s) for s in ("train", "eval", "test")}
    assert counts["train"] + counts["eval"] + counts["test"] == 1797
    for split, share in (("train", 0.7), ("eval", 0.2), ("test", 0.1)):
        assert abs(counts[split] / 1797 - share) < 0.03, counts
    (first,) = read_serialized_examples(digits.uri, "train", limit=1)
    features = tf.train.Example.FromString(first).features.feature
    assert set(features) == set(keys.example_keys()) - {keys.IMAGE_ERROR}
    name = features["file_name"].bytes_list.value[0].decode()
    assert features["image"].bytes_list.value == [(DIGITS / name).read_bytes()]
    assert features["label"].bytes_list.value == [name.split("/")[0].encode()]
    assert [features[k].int64_list.value[0] for k in ("height", "width", "channels")] == [8, 8, 1]
    assert features["format"].bytes_list.value == [b"png"]


def test_files_keep_their_split_when_files_are_added_or_rewritten(run_image_example_gen, tmp_path):
    root = write(tmp_path / "images", {f"{c}/{i:02d}.png": png() for c in "ab" for i in range(20)})
    before = run_image_example_gen(root, tmp_path / "before")
    write(root, {f"{c}/{i:02d}.png": png(seed=1) for c in "abc" for i in range(20, 40)})
    write(root, {"a/00.png": png(5, 5, 3)})  # new content, same path
    after = run_image_example_gen(root, tmp_path / "after")

    old, new = splits_of(before), splits_of(after)
    assert len(old) == 40 and len(new) == 100
    assert {name: new[name] for name in old} == old
    assert set(old.values()) == {"train", "eval", "test"}


def test_fingerprint_changes_when_a_file_is_added_rewritten_or_removed(
    image_example_gen_properties, tmp_path
):
    def fingerprint(image_dir: Path) -> str:
        """What TFX's driver fingerprints before the executor runs; a new one re-runs it."""
        return image_example_gen_properties(image_dir)["input_fingerprint"]

    root = write(tmp_path / "images", {"a/1.png": png(), "b/2.png": png()})
    seen = [fingerprint(root)]
    assert fingerprint(root) == seen[0]

    write(root, {"c/3.png": png()})  # a new class folder with a file
    seen.append(fingerprint(root))
    write(root, {"a/4.png": png()})  # a new file in a class folder
    seen.append(fingerprint(root))
    write(root, {"a/1.png": png(9, 9, 3)})  # rewritten in place: another size
    seen.append(fingerprint(root))
    os.utime(root / "b" / "2.png", (1_000_000_000, 1_000_000_000))  # touched: same size
    seen.append(fingerprint(root))
    shutil.rmtree(root / "c")
    seen.append(fingerprint(root))
    assert len(set(seen)) == len(seen), seen


def test_bad_files_are_examples_with_image_error_not_a_failure(run_image_example_gen, tmp_path):
    root = write(
        tmp_path / "images",
        {"a/1.png": png(), "a/2.jpg": truncated_jpeg(), "b/3.txt": b"notes", "b/4.png": png()},
    )
    examples = run_image_example_gen(root, tmp_path / "out", label_key="digit", image_key="pixels")
    errors = {}
    for split in artifact_utils.decode_split_names(examples.split_names):
        for record in read_serialized_examples(examples.uri, split):
            features = tf.train.Example.FromString(record).features.feature
            assert "digit" in features and "pixels" in features
            if "image_error" in features:
                errors[features["file_name"].bytes_list.value[0]] = features["channels"]
    assert sorted(errors) == [b"a/2.jpg", b"b/3.txt"]
    assert all(channels.int64_list.value == [0] for channels in errors.values())


def test_a_folder_without_class_folders_fails_with_one_line(run_image_example_gen, tmp_path):
    write(tmp_path / "images", {"1.png": png()})
    with pytest.raises(ImageFolderError, match=r"^no file in a class folder under .*images "):
        run_image_example_gen(tmp_path / "images", tmp_path / "out")
