"""Keys of the ``custom_config`` that ``pipeline/`` passes to Transform, Tuner and Trainer."""

# features.FeatureSpec.to_dict(): task, label, typed features, slices.
FEATURE_SPEC = "feature_spec"
HYPERPARAMETERS = "hyperparameters"
TUNER_SEARCH = "tuner_search"
# Batches per epoch; 0: one pass over the train split.
STEPS_PER_EPOCH = "steps_per_epoch"
# Validation batches per epoch; 0: one pass over the eval split.
EVAL_STEPS = "eval_steps"
# Digest of the components/ source: a code change invalidates the component's cache.
CODE_DIGEST = "code_digest"
# Keras' mixed_float16 policy (a GPU option; runs, slowly, on a CPU).
MIXED_PRECISION = "mixed_precision"
# "none" or "mirrored" (tf.distribute.MirroredStrategy over the visible devices).
DISTRIBUTION = "distribution"
# Digest of the image backbone's weights file: new weights at the same path re-run the Trainer.
WEIGHTS_DIGEST = "weights_digest"
