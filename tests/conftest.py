"""Test-wide setup: the one Keras mode, applied before any test imports TensorFlow."""

import os

from components import keras_mode

os.environ.update(keras_mode.ENVIRONMENT)
