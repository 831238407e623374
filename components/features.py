"""The single source of feature names for the penguins model.

Every other module names features through this one: the label key, the raw
features the model reads, and the name each takes after Transform.
"""

LABEL_KEY = "species"

NUMERIC_FEATURE_KEYS = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
)

CATEGORICAL_FEATURE_KEYS = (
    "island",
    "sex",
)

SLICE_FEATURE_KEYS = ("island", "sex")

# Vocabulary buckets for categorical values never seen in training.
OOV_BUCKETS = 1

# A missing categorical value becomes this token and so gets a vocabulary id of its
# own (tf.Transform keeps "" out of vocabularies, which would merge missing with OOV).
MISSING_CATEGORY = "<missing>"

FEATURE_KEYS = NUMERIC_FEATURE_KEYS + CATEGORICAL_FEATURE_KEYS


def transformed_name(key: str) -> str:
    """Name of a feature (or the label) after Transform."""
    return f"{key}_xf"


def vocabulary_name(key: str) -> str:
    """File name of the Transform vocabulary built for a categorical feature."""
    return f"{key}_vocab"
