"""CsvExampleGen: TFX's file-based ExampleGen with this project's CSV reader."""

from google.protobuf import any_pb2, struct_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components.csv_example_gen import executor

NODE_ID = "CsvExampleGen"


def CsvExampleGen(
    input_base: str,
    output_config: example_gen_pb2.Output,
    missing_values: list[str],
    code_digest: str,
    input_pattern: str | None = None,
    num_spans: int = 1,
) -> FileBasedExampleGen:
    """Reads every CSV file under ``input_base`` into the splits of ``output_config``.

    With ``input_pattern`` (a glob under ``input_base`` holding ``{SPAN}``), TFX's driver
    finds the latest span and records it on the examples; the executor reads that span
    and the ``num_spans - 1`` before it.

    Args:
        input_base: Directory of CSV files that share one header row.
        output_config: The output splits (hash buckets).
        missing_values: Tokens read as a missing value (compared after stripping spaces).
        code_digest: Digest of the reader's code: editing it re-runs the component
            instead of reusing examples the old code wrote.
        input_pattern: Span glob such as ``span-{SPAN}/*.csv``; None reads ``*`` (every file).
        num_spans: Spans read with ``input_pattern``: the latest and those before it.
    """
    settings = struct_pb2.Struct()
    settings.update({executor.MISSING_VALUES: list(missing_values), "code_digest": code_digest})
    input_config = None
    if input_pattern is not None:
        settings.update({executor.SPAN_PATTERN: input_pattern, executor.NUM_SPANS: num_spans})
        input_config = example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=input_pattern)]
        )
    packed = any_pb2.Any()
    packed.Pack(settings)
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        custom_config=example_gen_pb2.CustomConfig(custom_config=packed),
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    ).with_id(NODE_ID)
