"""Writes scikit-learn's bundled digits as PNG files in class folders: ``data/digits/<0..9>/``.

    .venv/bin/python data/make_digits.py [--out data/digits]

Reads the 1,797 8x8 images that ship inside the scikit-learn wheel
(``sklearn.datasets.load_digits``: nothing is downloaded) and writes each as an 8x8
grayscale PNG, ``<out>/<digit>/<index>.png``, where ``index`` is the image's row in
scikit-learn's order, zero-padded to four digits. Pixel values 0..16 become 0..255
(``(v * 255 + 8) // 16``, uint8); the images are not resized. Running it again writes the
same files, byte for byte; files already in ``<out>`` are replaced, others left alone.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent / "digits"
IMAGE_SIDE = 8
MAX_VALUE = 16  # scikit-learn's digits count set pixels in 4x4 blocks: 0..16


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Pixel counts 0..16 as 0..255 gray levels, rounded half up; uint8, same shape."""
    counts = np.asarray(values).astype(np.int64)
    if counts.min() < 0 or counts.max() > MAX_VALUE:
        raise ValueError(
            f"digit pixels must be in 0..{MAX_VALUE}, got {counts.min()}..{counts.max()}"
        )
    return ((counts * 255 + MAX_VALUE // 2) // MAX_VALUE).astype(np.uint8)


def write_digits(out: Path) -> int:
    """Writes every digit as ``out/<digit>/<index:04d>.png``; returns how many it wrote."""
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = out / str(int(target))
        folder.mkdir(parents=True, exist_ok=True)
        pixels = to_uint8(image).reshape(IMAGE_SIDE, IMAGE_SIDE, 1)
        png = tf.io.encode_png(pixels, compression=9).numpy()
        (folder / f"{index:04d}.png").write_bytes(png)
    return len(digits.images)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: data/digits")
    args = parser.parse_args(argv)
    count = write_digits(args.out)
    print(f"wrote {count} PNG files under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
