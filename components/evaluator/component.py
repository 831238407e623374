"""Evaluator: TFX's Evaluator with a cap on the examples it scores per split."""

import tensorflow_model_analysis as tfma
from tfx import types
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter
from tfx.utils import json_utils

from components.evaluator import executor


class EvaluatorSpec(standard_component_specs.EvaluatorSpec):
    """TFX's EvaluatorSpec plus ``max_examples``."""

    PARAMETERS = {
        **standard_component_specs.EvaluatorSpec.PARAMETERS,
        executor.MAX_EXAMPLES: ExecutionParameter(type=int, optional=True),
    }


class Evaluator(base_beam_component.BaseBeamComponent):
    """TFX's Evaluator (TFMA metrics, thresholds, blessing) on a bounded input.

    Outputs as TFX's: ``evaluation`` (ModelEvaluation) and ``blessing`` (ModelBlessing).
    The evaluation also carries, per split, ``<split>_examples`` (the split's size) and
    ``<split>_examples_evaluated`` (the uniform sample's size when the split was over
    ``max_examples``, else the same number).
    """

    SPEC_CLASS = EvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        examples: types.BaseChannel,
        model: types.BaseChannel,
        eval_config: tfma.EvalConfig,
        example_splits: list[str],
        max_examples: int | None = None,
        baseline_model: types.BaseChannel | None = None,
    ):
        """
        Args:
            examples: ExampleGen's Examples.
            model: The candidate Model.
            eval_config: Metrics, slices and thresholds.
            example_splits: The splits scored, e.g. ``["eval"]``.
            max_examples: The most examples scored per split (a uniform sample beyond
                it), or None for every example.
            baseline_model: The Model the candidate is compared with, if any.
        """
        super().__init__(
            spec=EvaluatorSpec(
                examples=examples,
                model=model,
                baseline_model=baseline_model,
                eval_config=eval_config,
                example_splits=json_utils.dumps(example_splits),
                fairness_indicator_thresholds=json_utils.dumps(None),
                max_examples=max_examples,
                evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
                blessing=types.Channel(type=standard_artifacts.ModelBlessing),
            )
        )
