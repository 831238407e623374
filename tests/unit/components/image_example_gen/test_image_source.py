"""The image reader's logic on real image bytes, and through a real Beam pipeline."""

from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from ingest_images import corrupt_png, jpeg, pillow, png, truncated_jpeg, write

from components.image_example_gen import keys
from components.image_example_gen.image_source import (
    ImageFile,
    ImageFolderError,
    ImageInfo,
    ImagesToExamples,
    inspect_image,
    list_image_files,
    sniff_format,
    to_example,
)

ACCEPTED = ("png", "jpeg")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(), "png"),
        (jpeg(), "jpeg"),
        (pillow("GIF"), "gif"),
        (pillow("BMP"), "bmp"),
        (b"GIF87a...", "gif"),
        (b"hello", "unknown"),
        (b"", "unknown"),
    ],
)
def test_format_comes_from_the_signature(data, expected):
    assert sniff_format(data) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(8, 6, 1), ImageInfo("png", 8, 6, 1)),
        (png(5, 7, 3), ImageInfo("png", 5, 7, 3)),
        (png(4, 4, 4), ImageInfo("png", 4, 4, 4)),
        (jpeg(16, 12), ImageInfo("jpeg", 16, 12, 3)),
    ],
)
def test_accepted_images_give_their_shape(data, expected):
    assert inspect_image(data, ACCEPTED) == expected


@pytest.mark.parametrize(
    ("data", "image_format", "problem"),
    [
        (
            corrupt_png(),
            "png",
            "PNG that cannot be decoded: Invalid PNG. Failed to initialize decoder.",
        ),
        (
            truncated_jpeg(),
            "jpeg",
            "truncated JPEG (no end marker): jpeg::Uncompress failed. "
            "Invalid JPEG data or crop window.",
        ),
        (
            png()[:40],
            "png",
            "truncated PNG (no end marker): Invalid PNG. Failed to initialize decoder.",
        ),
        (b"digit 3, see notes", "unknown", "not an image (no PNG, JPEG, GIF or BMP signature)"),
        (b"", "unknown", "empty file"),
    ],
)
def test_unusable_bytes_are_a_problem_with_shape_zero(data, image_format, problem):
    assert inspect_image(data, ACCEPTED) == ImageInfo(image_format, 0, 0, 0, problem)


def test_a_decodable_format_outside_the_accepted_ones_is_a_problem_with_its_shape():
    assert inspect_image(pillow("GIF", 8, 6), ACCEPTED) == ImageInfo(
        "gif", 8, 6, 3, "gif image, not one of the accepted formats png, jpeg"
    )
    assert inspect_image(pillow("BMP", 8, 6), ("png", "bmp")) == ImageInfo("bmp", 8, 6, 3)


def test_example_holds_bytes_label_shape_format_and_file_name():
    data = png()
    got = to_example(ImageFile("/x/3/a.png", "3/a.png", "3"), data, ImageInfo("png", 8, 6, 1))
    features = got.features.feature
    assert set(features) == set(keys.example_keys()) - {keys.IMAGE_ERROR}
    assert features["image"].bytes_list.value == [data]
    assert features["label"].bytes_list.value == [b"3"]
    assert [features[k].int64_list.value[0] for k in ("height", "width", "channels")] == [8, 6, 1]
    assert features["format"].bytes_list.value == [b"png"]
    assert features["file_name"].bytes_list.value == [b"3/a.png"]


def test_example_of_a_bad_file_names_it_in_image_error():
    info = ImageInfo("unknown", problem="empty file")
    got = to_example(ImageFile("/x/3/a.png", "3/a.png", "3"), b"", info, "pixels", "digit")
    features = got.features.feature
    assert set(features) == set(keys.example_keys("pixels", "digit"))
    assert features["image_error"].bytes_list.value == [b"3/a.png: empty file"]
    assert features["digit"].bytes_list.value == [b"3"]


def test_listing_takes_class_folders_entries_and_skips_hidden_and_top_level_files(tmp_path):
    write(
        tmp_path,
        {
            "b/2.png": b"x",
            "a/1.png": b"x",
            "a/.DS_Store": b"x",
            ".git/HEAD": b"x",
            "README.md": b"x",
            "a/nested/3.png": b"x",
        },
    )
    (tmp_path / "empty").mkdir()
    got = list_image_files(str(tmp_path))
    assert [(f.file_name, f.label) for f in got] == [
        ("a/1.png", "a"),
        ("a/nested", "a"),
        ("b/2.png", "b"),
    ]
    assert got[0].path == str(tmp_path / "a" / "1.png")
    assert list_image_files(f"{tmp_path}/") == got


def test_a_root_without_class_folder_files_fails_with_one_line(tmp_path):
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "top.png").write_bytes(png())
    with pytest.raises(ImageFolderError) as raised:
        ImagesToExamples(str(tmp_path))
    assert str(raised.value) == (
        f"no file in a class folder under {tmp_path} (expected {tmp_path}/<class>/<image file>)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"accepted_formats": ["png", "tiff"]},
            "image formats must be some of png, jpeg, gif, bmp, got png, tiff",
        ),
        ({"accepted_formats": []}, "image formats must be some of png, jpeg, gif, bmp, got none"),
        ({"label_key": "image"}, "image key 'image' and label key 'image' clash"),
        ({"image_key": "height"}, "image key 'height' and label key 'label' clash"),
    ],
)
def test_bad_settings_fail_with_one_line(tmp_path, kwargs, message):
    write(tmp_path, {"a/1.png": png()})
    with pytest.raises(ImageFolderError, match=f"^{message}$"):
        ImagesToExamples(str(tmp_path), **kwargs)


def read(root: Path, **kwargs) -> dict[str, tf.train.Example]:
    """Runs ImagesToExamples in a real Beam pipeline; examples by file name."""
    out = root.parent / "out" / "examples"
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | ImagesToExamples(str(root), **kwargs)
            | beam.io.WriteToTFRecord(str(out), coder=beam.coders.ProtoCoder(tf.train.Example))
        )
    records = tf.data.TFRecordDataset(sorted(map(str, out.parent.glob("examples*"))))
    examples = [tf.train.Example.FromString(r.numpy()) for r in records]
    return {e.features.feature["file_name"].bytes_list.value[0].decode(): e for e in examples}


def test_beam_reads_every_file_and_bad_ones_do_not_fail_it(tmp_path):
    root = write(
        tmp_path / "images",
        {
            "cat/a.png": png(8, 6, 1),
            "cat/b.jpg": jpeg(16, 12),
            "dog/c.png": corrupt_png(),
            "dog/d.jpg": truncated_jpeg(),
            "dog/notes.txt": b"taken in 2019",
            "dog/e.gif": pillow("GIF"),
            "dog/sub/f.png": png(),
        },
    )
    got = read(root)
    assert sorted(got) == [
        "cat/a.png", "cat/b.jpg", "dog/c.png", "dog/d.jpg", "dog/e.gif", "dog/notes.txt", "dog/sub",
    ]  # fmt: skip
    errors = {
        name: e.features.feature["image_error"].bytes_list.value[0].decode()
        for name, e in got.items()
        if "image_error" in e.features.feature
    }
    assert errors == {
        "dog/c.png": "dog/c.png: PNG that cannot be decoded: Invalid PNG. "
        "Failed to initialize decoder.",
        "dog/d.jpg": "dog/d.jpg: truncated JPEG (no end marker): jpeg::Uncompress failed. "
        "Invalid JPEG data or crop window.",
        "dog/e.gif": "dog/e.gif: gif image, not one of the accepted formats png, jpeg",
        "dog/notes.txt": "dog/notes.txt: not an image (no PNG, JPEG, GIF or BMP signature)",
        "dog/sub": "dog/sub: a folder inside a class folder (images must sit directly in it)",
    }
    shapes = {
        name: tuple(
            e.features.feature[k].int64_list.value[0] for k in ("height", "width", "channels")
        )
        for name, e in got.items()
    }
    assert shapes["cat/a.png"] == (8, 6, 1) and shapes["cat/b.jpg"] == (16, 12, 3)
    assert shapes["dog/c.png"] == shapes["dog/d.jpg"] == shapes["dog/notes.txt"] == (0, 0, 0)
    assert got["cat/b.jpg"].features.feature["image"].bytes_list.value == [jpeg(16, 12)]
    assert got["dog/d.jpg"].features.feature["label"].bytes_list.value == [b"dog"]
