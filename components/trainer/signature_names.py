"""The exported model's signature and output names, without TensorFlow.

Read by the REST server and the request log, which must not import TensorFlow to
recognise a signature (``runner.py serve`` prints its errors before loading TF).
"""

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "serving_raw"
TRANSFORM_SIGNATURE = "transform_features"
# Classification outputs: [batch, classes] float32, [batch] int64, [batch] string.
PROBABILITIES = "probabilities"
CLASS_IDS = "class_ids"
CLASSES = "classes"
# Regression output: [batch] float32 in the label's units.
PREDICTIONS = "predictions"
