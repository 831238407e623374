"""Keys of the ``custom_config`` that ``pipeline/`` passes to Transform, Tuner and Trainer."""

LABEL_CLASSES = "label_classes"
HYPERPARAMETERS = "hyperparameters"
TUNER_SEARCH = "tuner_search"
# Digest of the components/ source: a code change invalidates the component's cache.
CODE_DIGEST = "code_digest"
