"""The penguins feature spec as the shipped config declares it, for tests that need one.

Importable from any test: pytest puts ``tests/`` (it holds a conftest.py) on sys.path.
"""

from pathlib import Path

from components import features

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "penguins.yaml"

NUMERIC = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
CATEGORICAL = ("island", "sex")
LABEL = "species"
CLASSES = ("Adelie", "Chinstrap", "Gentoo")

SPEC = features.FeatureSpec(
    task=features.CLASSIFICATION,
    label=features.Label(LABEL, CLASSES),
    features=tuple(features.make_feature(n, "numeric") for n in NUMERIC)
    + tuple(features.make_feature(n, "categorical") for n in CATEGORICAL),
    slices=CATEGORICAL,
)
