"""storage.load_saved_model: one load for consecutive reads of the same SavedModel."""

import tensorflow as tf

from components.tflite_converter import storage


def _save(path: str, value: float) -> None:
    module = tf.Module()
    module.value = tf.Variable(value)
    module.read = tf.function(lambda: module.value, input_signature=[])
    tf.saved_model.save(module, path)


def test_a_saved_model_is_loaded_once_until_it_is_written_over(tmp_path):
    path = str(tmp_path / "model")
    _save(path, 1.0)

    first = storage.load_saved_model(path)
    assert storage.load_saved_model(path) is first
    assert float(first.read()) == 1.0

    _save(path, 2.0)
    again = storage.load_saved_model(path)
    assert again is not first and float(again.read()) == 2.0


def test_another_directory_is_loaded_anew(tmp_path):
    _save(str(tmp_path / "a"), 1.0)
    _save(str(tmp_path / "b"), 2.0)
    assert float(storage.load_saved_model(str(tmp_path / "a")).read()) == 1.0
    assert float(storage.load_saved_model(str(tmp_path / "b")).read()) == 2.0
    assert float(storage.load_saved_model(str(tmp_path / "a")).read()) == 1.0
