"""Baseline for the Evaluator: the latest blessed model that is not the candidate.

TFX's LatestBlessedModelStrategy runs before the Trainer. On an unchanged re-run
the Trainer is cached, so the candidate *is* the latest blessed model; comparing it
with itself changes the Evaluator's inputs, defeats its cache and makes the Pusher
push the same model again. Resolving after the Trainer and excluding the candidate
keeps the inputs of an unchanged re-run identical to the first run's.
"""

import ml_metadata as mlmd
from tfx import types
from tfx.dsl.components.common import resolver

MODEL = "model"
MODEL_BLESSING = "model_blessing"
CANDIDATE = "candidate"
_BLESSED = "blessed"
_CURRENT_MODEL_ID = "current_model_id"


class LatestBlessedOtherModelStrategy(resolver.ResolverStrategy):
    """Resolves ``model`` to the newest blessed Model other than ``candidate``."""

    def resolve_artifacts(
        self, store: mlmd.MetadataStore, input_dict: dict[str, list[types.Artifact]]
    ) -> dict[str, list[types.Artifact]] | None:
        candidate_ids = {a.id for a in input_dict[CANDIDATE]}
        blessing_by_model_id = {
            b.get_int_custom_property(_CURRENT_MODEL_ID): b
            for b in input_dict[MODEL_BLESSING]
            if b.get_int_custom_property(_BLESSED) == 1
        }
        baselines = sorted(
            (
                m
                for m in input_dict[MODEL]
                if m.id in blessing_by_model_id and m.id not in candidate_ids
            ),
            key=lambda m: m.id,
            reverse=True,
        )[:1]
        return {
            MODEL: baselines,
            MODEL_BLESSING: [blessing_by_model_id[m.id] for m in baselines],
            CANDIDATE: input_dict[CANDIDATE],
        }
