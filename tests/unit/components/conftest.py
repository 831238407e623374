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


@pytest.fixture(scope="module")
def run_csv_example_gen():
    """Runs the pipeline's CsvExampleGen executor, configured as its component is.

    Returns a function ``(csv_dir, output_uri, **component_args) -> Examples artifact``.
    """
    from google.protobuf import message
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils

    from components.csv_example_gen import component, executor
    from pipeline.config import DEFAULT_MISSING_VALUES

    split_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in (("train", 7), ("eval", 2), ("test", 1))
            ]
        )
    )

    def run(csv_dir, output_uri, missing_values=DEFAULT_MISSING_VALUES):
        node = component.CsvExampleGen(
            input_base=str(csv_dir),
            output_config=split_config,
            missing_values=list(missing_values),
            code_digest="test",
        )
        exec_properties = {
            key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
            for key, value in node.exec_properties.items()
            if value is not None
        }
        examples = standard_artifacts.Examples()
        examples.uri = str(output_uri)
        executor.Executor().Do({}, {"examples": [examples]}, exec_properties)
        return examples

    return run


def _image_example_gen_properties(image_dir, **component_args) -> dict:
    """The exec properties ImageExampleGen's executor gets: the component's, as its driver
    resolves them (``input_fingerprint``: the fingerprint of the files it will read)."""
    from google.protobuf import message
    from tfx.components.example_gen import driver
    from tfx.proto import example_gen_pb2
    from tfx.utils import proto_utils

    from components.image_example_gen import component

    split_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in (("train", 7), ("eval", 2), ("test", 1))
            ]
        )
    )
    node = component.ImageExampleGen(
        input_base=str(image_dir),
        output_config=split_config,
        code_digest="test",
        **component_args,
    )
    exec_properties = {
        key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
        for key, value in node.exec_properties.items()
        if value is not None
    }
    return driver.FileBasedDriver(None).resolve_exec_properties(exec_properties, None, None)


@pytest.fixture(scope="module")
def image_example_gen_properties():
    """``(image_dir, **component_args) -> exec properties`` as ImageExampleGen's driver
    resolves them; ``input_fingerprint`` is the fingerprint of the files it will read."""
    return _image_example_gen_properties


@pytest.fixture(scope="module")
def run_image_example_gen():
    """Runs the pipeline's ImageExampleGen executor, configured as its component is.

    Returns a function ``(image_dir, output_uri, **component_args) -> Examples artifact``.
    """
    from tfx.types import standard_artifacts

    from components.image_example_gen import executor

    def run(image_dir, output_uri, **component_args):
        exec_properties = _image_example_gen_properties(image_dir, **component_args)
        examples = standard_artifacts.Examples()
        examples.uri = str(output_uri)
        executor.Executor().Do({}, {"examples": [examples]}, exec_properties)
        return examples

    return run
