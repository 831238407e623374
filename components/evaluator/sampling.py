"""The Evaluator's bounded input: a uniform sample of each split larger than a cap.

TFMA computes its metrics per example in Python, for every slice and, on a classifier,
for every class (about 2 ms per example and slice on this project's 2-core machine), so
an evaluation of a whole large split grows without bound. A uniform sample of fixed size
keeps it bounded; the candidate and the baseline are scored on the same sample.
"""

import dataclasses
import os

from components import examples_io

# Custom properties of the evaluation artifact, per evaluated split: the split's size and
# the number of its examples scored (``eval_examples``, ``eval_examples_evaluated``).
SPLIT_EXAMPLES = "{split}_examples"
SPLIT_EXAMPLES_EVALUATED = "{split}_examples_evaluated"


@dataclasses.dataclass(frozen=True)
class SplitSize:
    """How much of one split was evaluated.

    Attributes:
        split: Split name, e.g. ``eval``.
        total: Records in the split.
        evaluated: Records evaluated: ``total``, or the sample's size when it was capped.
    """

    split: str
    total: int
    evaluated: int

    @property
    def sampled(self) -> bool:
        return self.evaluated < self.total


def bounded_splits(
    examples_uri: str,
    splits: list[str],
    max_examples: int | None,
    scratch_uri: str,
    seed: int = 0,
) -> tuple[str, list[SplitSize]]:
    """Where to read ``splits`` from so that none holds more than ``max_examples`` records.

    When every split fits (or ``max_examples`` is None) nothing is written and the
    artifact's own URI comes back. Otherwise every requested split is written under
    ``scratch_uri`` as ``Split-<name>/``: a uniform sample of ``max_examples`` records for
    a split over the cap (``examples_io.write_uniform_sample``), the whole split for one
    under it. The same split and ``seed`` give the same sample on every run.

    Args:
        examples_uri: The Examples artifact's URI (gzipped TFRecords per split).
        splits: The splits to evaluate.
        max_examples: The most records evaluated per split (>= 1), or None for all.
        scratch_uri: An empty directory for the samples; the caller removes it.

    Returns:
        (the URI the Evaluator reads, each split's size).

    Raises:
        ValueError: ``max_examples`` < 1.
        FileNotFoundError: A split has no files.
    """
    if max_examples is not None and max_examples < 1:
        raise ValueError(f"max_examples: must be >= 1, got {max_examples}")
    totals = {split: examples_io.count_serialized_examples(examples_uri, split) for split in splits}
    if max_examples is None or all(total <= max_examples for total in totals.values()):
        return examples_uri, [SplitSize(split, total, total) for split, total in totals.items()]
    sizes = []
    for split, total in totals.items():
        written = examples_io.write_uniform_sample(
            examples_uri,
            split,
            max_examples,
            total,
            os.path.join(scratch_uri, f"Split-{split}"),
            seed,
        )
        sizes.append(SplitSize(split, total, written))
    return scratch_uri, sizes
