"""Image files for the image tests: PNG/JPEG bytes from TensorFlow, GIF/BMP from Pillow."""

import io
from pathlib import Path

import numpy as np
import tensorflow as tf


def pixels(height: int = 8, width: int = 6, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)


def png(height: int = 8, width: int = 6, channels: int = 1, seed: int = 0) -> bytes:
    return tf.io.encode_png(pixels(height, width, channels, seed)).numpy()


def jpeg(height: int = 16, width: int = 12, seed: int = 0) -> bytes:
    return tf.io.encode_jpeg(pixels(height, width, 3, seed)).numpy()


def pillow(image_format: str, height: int = 8, width: int = 6) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels(height, width, 3)).save(out, image_format)
    return out.getvalue()


def corrupt_png() -> bytes:
    """A PNG whose header chunk is overwritten: the signature and the end are intact."""
    good = png()
    return good[:12] + b"\x00" * 17 + good[29:]


def truncated_jpeg() -> bytes:
    good = jpeg()
    return good[: len(good) // 2]


def write(root: Path, files: dict[str, bytes]) -> Path:
    """Writes ``{"<class>/<name>": bytes}`` under ``root``; returns ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root
