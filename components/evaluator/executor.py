"""TFX's Evaluator executor on a bounded input (see ``sampling``)."""

import json
import os
from typing import Any

from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs

from components.evaluator import sampling

MAX_EXAMPLES = "max_examples"
_DEFAULT_SPLITS = ["eval"]


class Executor(tfx_evaluator.Executor):
    """Runs TFX's Evaluator on at most ``max_examples`` records of each split.

    Splits over the cap are replaced by a uniform sample written to the executor's
    temporary directory (removed afterwards); the input artifact's URI is restored before
    ``Do`` returns, so lineage and caching are TFX's. The evaluation artifact records, per
    split, the split's size and how many records were evaluated.
    """

    def Do(
        self,
        input_dict: dict[str, list[Any]],
        output_dict: dict[str, list[Any]],
        exec_properties: dict[str, Any],
    ) -> None:
        splits = (
            json.loads(exec_properties.get(standard_component_specs.EXAMPLE_SPLITS_KEY) or "null")
            or _DEFAULT_SPLITS
        )
        examples = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.EXAMPLES_KEY]
        )
        scratch = os.path.join(self._get_tmp_dir(), "bounded_examples")
        artifact_uri = examples.uri
        try:
            examples.uri, sizes = sampling.bounded_splits(
                artifact_uri, splits, exec_properties.get(MAX_EXAMPLES), scratch
            )
            # The input artifact itself points at the sample while TFMA reads it: a copy
            # (Artifact.copy_from) aborts the process in protobuf's map code (CHECK failed:
            # IsMapValid) on an artifact read from ML Metadata.
            super().Do(input_dict, output_dict, exec_properties)
        finally:
            examples.uri = artifact_uri
            if fileio.exists(scratch):
                fileio.rmtree(scratch)
        evaluation = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EVALUATION_KEY]
        )
        for size in sizes:
            evaluation.set_int_custom_property(
                sampling.SPLIT_EXAMPLES.format(split=size.split), size.total
            )
            evaluation.set_int_custom_property(
                sampling.SPLIT_EXAMPLES_EVALUATED.format(split=size.split), size.evaluated
            )
