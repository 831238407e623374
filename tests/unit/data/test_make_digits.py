"""The shipped digits: counts, image shape, and that the script rewrites them byte for byte."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from data import make_digits

SHIPPED = Path(make_digits.__file__).resolve().parent / "digits"


def shipped_files() -> dict[str, bytes]:
    return {p.relative_to(SHIPPED).as_posix(): p.read_bytes() for p in SHIPPED.rglob("*.png")}


def test_ten_class_folders_of_1797_images():
    folders = sorted(p.name for p in SHIPPED.iterdir())
    assert folders == [str(d) for d in range(10)]
    counts = {f: len(list((SHIPPED / f).iterdir())) for f in folders}
    assert sum(counts.values()) == 1797
    assert min(counts.values()) == 174 and max(counts.values()) == 183  # data/README.md


def test_images_are_8x8_grayscale_pngs_of_the_source_pixels():
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in (0, 1, 1796):
        path = SHIPPED / str(digits.target[index]) / f"{index:04d}.png"
        pixels = tf.io.decode_png(path.read_bytes()).numpy()
        assert pixels.shape == (8, 8, 1) and pixels.dtype == np.uint8
        np.testing.assert_array_equal(pixels[..., 0], make_digits.to_uint8(digits.images[index]))


@pytest.mark.parametrize(("count", "gray"), [(0, 0), (1, 16), (8, 128), (15, 239), (16, 255)])
def test_pixel_counts_scale_to_gray_levels(count, gray):
    assert make_digits.to_uint8(np.array([count])).tolist() == [gray]


def test_counts_outside_0_to_16_are_refused():
    with pytest.raises(ValueError, match=r"digit pixels must be in 0\.\.16, got 0\.\.17"):
        make_digits.to_uint8(np.array([0, 17]))


def test_the_script_rewrites_the_shipped_files_byte_for_byte(tmp_path):
    assert make_digits.main(["--out", str(tmp_path)]) == 0
    written = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in tmp_path.rglob("*.png")}
    assert written == shipped_files()
