"""Fixtures shared by the custom components' tests."""

import uuid

import pytest
import tensorflow as tf


@pytest.fixture
def ram():
    """A fresh ``ram://`` directory: the RAM filesystem is process-wide, so one per test.

    TF 2.16's RAM filesystem lists ``<dir>/x`` for a sibling ``<dir>x``: names in one
    directory here never start with another's.
    """
    root = f"ram://{uuid.uuid4().hex}"
    yield root
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)
