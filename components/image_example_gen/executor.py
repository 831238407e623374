"""ImageExampleGen's executor: TFX's file-based ExampleGen over ``image_source``.

Takes its settings from the component's ``custom_config`` (a Struct packed in
``example_gen_pb2.CustomConfig``): ``image_formats`` (the accepted formats),
``image_key`` and ``label_key`` (the examples' keys of the file's bytes and of its class),
and ``code_digest``, which only keys the cache.
"""

import os
from typing import Any

import apache_beam as beam
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.types import standard_component_specs

from components.csv_example_gen.executor import custom_settings
from components.image_example_gen import image_source, keys

IMAGE_FORMATS = "image_formats"
IMAGE_KEY = "image_key"
LABEL_KEY = "label_key"


@beam.ptransform_fn
def _ImagesToExample(
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    settings = custom_settings(exec_properties)
    root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    return pipeline | "ReadImages" >> image_source.ImagesToExamples(
        root,
        accepted_formats=settings.get(IMAGE_FORMATS, keys.DEFAULT_FORMATS),
        image_key=settings.get(IMAGE_KEY, keys.IMAGE),
        label_key=settings.get(LABEL_KEY, keys.LABEL),
        pattern=split_pattern.lstrip(os.sep),
    )


class Executor(BaseExampleGenExecutor):
    """Reads class folders of images with ``image_source``: one example per file.

    A file it cannot use is an example with an ``image_error`` feature, never a failure;
    only a root with no file at all fails (ImageFolderError, one line).
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _ImagesToExample
