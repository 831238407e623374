"""ImageExampleGen: TFX's file-based ExampleGen over class folders of image files."""

from collections.abc import Sequence

from google.protobuf import any_pb2, struct_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.image_example_gen import executor, keys

NODE_ID = "ImageExampleGen"


def ImageExampleGen(
    input_base: str,
    output_config: example_gen_pb2.Output,
    code_digest: str,
    image_formats: Sequence[str] = keys.DEFAULT_FORMATS,
    image_key: str = keys.IMAGE,
    label_key: str = keys.LABEL,
) -> FileBasedExampleGen:
    """Reads every file in the class folders under ``input_base``: one example per file.

    The splits of ``output_config`` hash each file's path relative to ``input_base``
    (``partition_feature_name: file_name``), so adding files never moves another file to
    another split. TFX fingerprints the entries of the class folders (``*/*``: count,
    sizes, modification times): adding, removing or rewriting a file re-runs the component.

    Args:
        input_base: Folder of class folders, ``<input_base>/<class>/<image file>``.
        output_config: The output splits (hash buckets); its partition feature is set here.
        code_digest: Digest of the reader's code: editing it re-runs the component
            instead of reusing examples the old code wrote.
        image_formats: Formats the pipeline takes (of png, jpeg, gif, bmp); a file of
            another format gets an ``image_error``.
        image_key: Key of the file's bytes in the examples.
        label_key: Key of the class folder's name in the examples.
    """
    output = example_gen_pb2.Output()
    output.CopyFrom(output_config)
    output.split_config.partition_feature_name = keys.FILE_NAME
    settings = struct_pb2.Struct()
    settings.update(
        {
            executor.IMAGE_FORMATS: list(image_formats),
            executor.IMAGE_KEY: image_key,
            executor.LABEL_KEY: label_key,
            "code_digest": code_digest,
        }
    )
    packed = any_pb2.Any()
    packed.Pack(settings)
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=keys.FILE_PATTERN)]
        ),
        output_config=output,
        custom_config=example_gen_pb2.CustomConfig(custom_config=packed),
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    ).with_id(NODE_ID)
