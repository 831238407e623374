"""CsvExampleGen's executor: TFX's file-based ExampleGen over ``csv_source``.

Takes its settings from the component's ``custom_config`` (a Struct packed in
``example_gen_pb2.CustomConfig``): ``missing_values``, the tokens read as a missing
value, and ``code_digest``, which only keys the cache.
"""

import logging
import os
import re
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.csv_example_gen import csv_source, file_parts, split_writer

MISSING_VALUES = "missing_values"
SPAN_PATTERN = "span_pattern"
NUM_SPANS = "num_spans"

# Beam re-raises a worker's error with "[while running 'step']" appended, or, across
# processes, inside a RuntimeError that quotes the worker's traceback.
_CSV_ERROR = re.compile(rf"{csv_source.CsvFormatError.__name__}: (.+?)(?: \[while running|$)", re.M)


def custom_settings(exec_properties: dict[str, Any]) -> dict[str, Any]:
    """The Struct in ``exec_properties['custom_config']`` as a dict ({} when unset)."""
    text = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not text:
        return {}
    config = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(text, config)
    settings = struct_pb2.Struct()
    config.custom_config.Unpack(settings)
    return json_format.MessageToDict(settings)


@beam.ptransform_fn
def _CsvToExample(
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.PCollection:
    paths = input_paths(exec_properties, split_pattern)
    return pipeline | "ReadCsv" >> csv_source.CsvToExamples(paths, _missing_values(exec_properties))


def input_paths(exec_properties: dict[str, Any], split_pattern: str) -> list[str]:
    """The CSV files to read: every match of the span patterns (see ``span_patterns``)."""
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    settings = custom_settings(exec_properties)
    patterns = span_patterns(settings, exec_properties.get("span"), split_pattern)
    paths = sorted({p for pattern in patterns for p in fileio.glob(os.path.join(base, pattern))})
    if not paths:
        raise csv_source.CsvFormatError(f"no file matches {os.path.join(base, split_pattern)}")
    return paths


def _missing_values(exec_properties: dict[str, Any]) -> list[str]:
    # Without settings, only an empty field is missing, as in TFX's own CsvExampleGen.
    return custom_settings(exec_properties).get(MISSING_VALUES, [""])


def span_patterns(settings: dict[str, Any], span: Any, split_pattern: str) -> list[str]:
    """The globs to read: ``split_pattern`` (the driver's, latest span filled in), and with
    ``num_spans`` > 1 the span pattern filled in for each of the spans before it."""
    pattern, count = settings.get(SPAN_PATTERN), int(settings.get(NUM_SPANS, 1))
    if not pattern or count <= 1 or span is None:
        return [split_pattern]
    latest = int(span)
    earlier = range(max(0, latest - count + 1), latest)
    return [pattern.replace("{SPAN}", str(s)) for s in earlier] + [split_pattern]


class Executor(BaseExampleGenExecutor):
    """Reads CSV files with ``csv_source``; a file it cannot read fails with one line.

    Hash-bucket splits (the pipeline's) are written by ``csv_source.CsvToSplits``; other
    split configs (input splits, a partition feature) by TFX's per-record writer.
    """

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToExample

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        try:
            split_config = _output_config(exec_properties).split_config
            if split_config.splits and not split_config.partition_feature_name:
                self._write_hash_splits(output_dict, exec_properties)
            else:
                super().Do(input_dict, output_dict, exec_properties)
        except Exception as err:
            line = csv_error_line(err)
            if line is None:
                raise
            raise csv_source.CsvFormatError(line) from None

    def _write_hash_splits(self, output_dict, exec_properties) -> None:
        """The one input split into the output config's hash splits, through
        ``csv_source.CsvToSplits`` rather than TFX's per-record writer; the artifact's
        properties are set as TFX's ``Do`` sets them."""
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
        )
        (split_pattern,) = [split.pattern for split in input_config.splits]
        output_config = _output_config(exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        names = [split.name for split in output_config.split_config.splits]
        paths = input_paths(exec_properties, split_pattern)
        examples.split_names = artifact_utils.encode_split_names(names)
        scratch = os.path.join(examples.uri, ".scatter")
        splits = split_writer.Splits(
            names=names,
            hash_buckets=[split.hash_buckets for split in output_config.split_config.splits],
            output_dirs=[artifact_utils.get_split_uri([examples], name) for name in names],
            scratch_dir=scratch,
            runs=split_writer.run_count(sum(fileio.stat(path).length for path in paths)),
        )
        missing = _missing_values(exec_properties)
        try:
            self._run_csv_to_splits(paths, missing, splits, file_parts.PART_BYTES)
        except Exception as err:
            if not _ends_in_quotes(err):
                raise
            logging.warning("Reading the CSV files whole: %s", err)
            self._run_csv_to_splits(paths, missing, splits, None)
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(
            examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP)
        )

    def _run_csv_to_splits(
        self,
        paths: list[str],
        missing: list[str],
        splits: split_writer.Splits,
        part_bytes: int | None,
    ) -> None:
        """One Beam pipeline of ``csv_source.CsvToSplits``, between two removals of the
        scratch runs (a failed attempt leaves some behind)."""
        _remove_scratch(splits)
        with self._make_beam_pipeline() as pipeline:
            _ = pipeline | "CsvToSplits" >> csv_source.CsvToSplits(
                paths, missing, splits, part_bytes
            )
        _remove_scratch(splits)


def _remove_scratch(splits: split_writer.Splits) -> None:
    if fileio.exists(splits.scratch_dir):  # absent when no file had a record
        fileio.rmtree(splits.scratch_dir)


def _ends_in_quotes(err: Exception) -> bool:
    """Whether ``err`` is, or quotes (from a Beam worker), a ``PartEndsInQuotes``."""
    name = file_parts.PartEndsInQuotes.__name__
    return isinstance(err, file_parts.PartEndsInQuotes) or f"{name}: " in str(err)


def _output_config(exec_properties: dict[str, Any]) -> example_gen_pb2.Output:
    config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], config)
    return config


def csv_error_line(err: Exception) -> str | None:
    """A CsvFormatError's own line, out of whatever Beam wrapped it in; None for others."""
    if isinstance(err, csv_source.CsvFormatError):
        return str(err).split(" [while running", 1)[0]
    match = _CSV_ERROR.search(str(err))
    return match.group(1) if match else None
