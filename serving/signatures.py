"""The signatures of a loaded SavedModel as the REST server sees them.

A signature is served over REST when every input is a batch of scalars (rank 1) of a
type JSON can carry (float, integer, bool, string) and every output is a tensor of such
a type with the batch as its first dimension. What a signature can answer besides
``:predict`` is read from its outputs, never from the dataset behind the model:

- ``:classify``: a float ``scores`` (TF Serving's classify signature) or ``probabilities``
  (this project's export) output of shape [batch, classes]. Each score's label comes
  from a [batch, classes] string output, ``classes`` (TF Serving) or ``all_classes``
  (the Estimator's name); failing that, a [batch] ``classes`` output names the predicted
  class only, and the other scores get the label "" (TF Serving's label for a score
  the model does not name).
- ``:regress``: not a classification signature, and exactly one float output holding
  one value per example ([batch] or [batch, 1]); with several, the one named
  ``outputs`` (TF Serving's regress output).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from components.serving_pusher.smoke_test import describe_error
from components.trainer.signature_names import RAW_SIGNATURE
from serving.errors import ApiError

FLOAT = "float"
INT = "int"
BOOL = "bool"
STRING = "string"
SCORE_OUTPUTS = ("scores", "probabilities")
PER_CLASS_LABEL_OUTPUTS = ("classes", "all_classes")
PREDICTED_CLASS_OUTPUT = "classes"
PREDICTED_CLASS_ID_OUTPUT = "class_ids"
REGRESS_OUTPUT = "outputs"


class NotServed(ValueError):
    """A signature the REST server does not serve, and why."""


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output: its kind (how JSON carries it), dtype and static shape."""

    kind: str
    dtype: Any  # tf.DType
    shape: tuple[int | None, ...]


@dataclasses.dataclass(frozen=True)
class Classification:
    """Where a classification signature keeps its scores and their labels."""

    scores: str
    per_class_labels: str | None
    predicted_label: str | None
    predicted_id: str | None


@dataclasses.dataclass(frozen=True)
class Signature:
    """A signature served over REST."""

    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    function: Any

    @property
    def takes_examples(self) -> bool:
        """One string input: serialized tf.Examples, as TF Serving's classify/regress feed,
        unless a request names the input (see ``server._run_examples``). Never this
        project's ``serving_raw``, whose one string input of an image model is the image."""
        if self.name == RAW_SIGNATURE:
            return False
        return len(self.inputs) == 1 and next(iter(self.inputs.values())).kind == STRING

    @property
    def classification(self) -> Classification | None:
        """Its class scores and labels, or None if it does not classify."""
        scores = next((n for n in SCORE_OUTPUTS if self._has(n, FLOAT, rank=2)), None)
        if scores is None:
            return None
        labels = next((n for n in PER_CLASS_LABEL_OUTPUTS if self._has(n, STRING, rank=2)), None)
        predicted = PREDICTED_CLASS_OUTPUT if self._has(PREDICTED_CLASS_OUTPUT, STRING, 1) else None
        predicted_id = (
            PREDICTED_CLASS_ID_OUTPUT if self._has(PREDICTED_CLASS_ID_OUTPUT, INT, 1) else None
        )
        return Classification(scores, labels, None if labels else predicted, predicted_id)

    def regression_output(self) -> str:
        """The output that :regress returns; ApiError(400) saying why there is none."""
        classification = self.classification
        if classification is not None:
            raise ApiError(
                400,
                f"signature {self.name!r} is a classification signature (class scores in "
                f"{classification.scores!r}): use :classify; :regress needs one numeric "
                "output value per example",
            )
        candidates = sorted(
            name
            for name, info in self.outputs.items()
            if info.kind == FLOAT and (len(info.shape) == 1 or info.shape[1:] in ((1,), (None,)))
        )
        if len(candidates) == 1:
            return candidates[0]
        if REGRESS_OUTPUT in candidates:
            return REGRESS_OUTPUT
        found = "none" if not candidates else f"several: {candidates}"
        raise ApiError(
            400,
            f"signature {self.name!r} cannot regress: it needs one float output with one "
            f"value per example, found {found} among outputs {sorted(self.outputs)}",
        )

    def run(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature on one array per input; returns one array per output.

        Raises:
            ApiError: 400 when TensorFlow rejects the input (a tf.Example that does not
                parse, say), 500 when an output lacks the batch dimension.
        """
        import tensorflow as tf

        tensors = {
            key: tf.constant(values, self.inputs[key].dtype) for key, values in columns.items()
        }
        try:
            outputs = self.function(**tensors)
        except tf.errors.InvalidArgumentError as error:
            raise ApiError(400, f"signature {self.name!r}: {describe_error(error)}") from error
        except UnicodeDecodeError as error:
            # TensorFlow fails to build the error of an op that rejected non-UTF-8 bytes
            # (an image's bytes where a serialized tf.Example belongs), and raises this.
            raise ApiError(
                400,
                f"signature {self.name!r} cannot read the bytes it was given (inputs "
                f"{sorted(self.inputs)}); raw values such as an image's bytes go to a "
                "signature that takes them (serving_raw)",
            ) from error
        rows = len(next(iter(columns.values())))
        arrays = {key: value.numpy() for key, value in outputs.items()}
        for key, value in arrays.items():
            if value.ndim == 0 or value.shape[0] != rows:
                raise ApiError(
                    500,
                    f"signature {self.name!r} returned {key!r} of shape {list(value.shape)} "
                    f"for {rows} examples",
                )
        return arrays

    def _has(self, name: str, kind: str, rank: int) -> bool:
        info = self.outputs.get(name)
        return info is not None and info.kind == kind and len(info.shape) == rank


def describe(name: str, function: Any) -> Signature:
    """The REST view of a loaded signature; NotServed says why it cannot be served."""
    specs = function.structured_input_signature[1]
    if not specs:
        raise NotServed(f"{name}: no named inputs")
    inputs = {}
    for key, spec in specs.items():
        info = _tensor_info(f"{name}: input {key!r}", spec)
        if len(info.shape) != 1:
            raise NotServed(f"{name}: input {key!r} has shape {list(info.shape)}; only [batch]")
        inputs[key] = info
    structured = function.structured_outputs
    if not isinstance(structured, dict) or not structured:
        raise NotServed(f"{name}: outputs are not named tensors")
    outputs = {}
    for key, spec in structured.items():
        info = _tensor_info(f"{name}: output {key!r}", spec)
        if not info.shape:
            raise NotServed(f"{name}: output {key!r} is a scalar, not one value per example")
        outputs[key] = info
    return Signature(name=name, inputs=inputs, outputs=outputs, function=function)


def _tensor_info(where: str, spec: Any) -> TensorInfo:
    import tensorflow as tf

    dtype = getattr(spec, "dtype", None)
    if not isinstance(spec, tf.TensorSpec) or spec.shape.rank is None:
        raise NotServed(f"{where} is not a tensor of known rank")
    if dtype.is_floating:
        kind = FLOAT
    elif dtype.is_integer:
        kind = INT
    elif dtype == tf.bool:
        kind = BOOL
    elif dtype == tf.string:
        kind = STRING
    else:
        raise NotServed(f"{where} has dtype {dtype.name}, which JSON does not carry")
    return TensorInfo(kind=kind, dtype=dtype, shape=tuple(spec.shape.as_list()))


def signature_def_metadata(saved_model_dir: Path) -> dict:
    """TF Serving's ``SignatureDefMap`` JSON of the SavedModel's signatures, for /metadata."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.saved_model import loader_impl

    saved_model = loader_impl.parse_saved_model(str(saved_model_dir))
    signature_defs = saved_model.meta_graphs[0].signature_def

    def tensor(info: Any) -> dict:
        return {
            "dtype": types_pb2.DataType.Name(info.dtype),
            "tensor_shape": {
                "dim": [{"size": str(d.size), "name": d.name} for d in info.tensor_shape.dim],
                "unknown_rank": info.tensor_shape.unknown_rank,
            },
            "name": info.name,
        }

    return {
        name: {
            "inputs": {key: tensor(info) for key, info in sorted(sig.inputs.items())},
            "outputs": {key: tensor(info) for key, info in sorted(sig.outputs.items())},
            "method_name": sig.method_name,
        }
        for name, sig in sorted(signature_defs.items())
    }
