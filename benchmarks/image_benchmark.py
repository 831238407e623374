"""Prints the deployment figures of an image classifier, per form.

    .venv/bin/python benchmarks/image_benchmark.py [--config configs/digits.yaml]
        [--work-dir DIR] [--latency-calls 300]

Runs the pipeline first when the work dir has no trained model. Then, for the latest
Trainer model and the test split of its ExampleGen: the SavedModel (``serving_raw`` on the
encoded bytes), and the float16, int8 and micro (int8 in and out) TFLite forms converted
from it, each scored the device way (decode, resize, quantize, one interpreter call):
size, test accuracy, p50/p99 single-image latency (decoding included for every form), and
the Trainer's seconds per epoch from ``history.json``. Targets from the images issue are
printed beside the figures; nothing is asserted. Run it on a quiet machine.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SIZE_RATIO = 0.3
TARGET_ACCURACY_LOSS = 0.01
TARGET_P50_MS = 100.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "digits.yaml")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: the config's")
    parser.add_argument("--latency-calls", type=int, default=300)
    args = parser.parse_args(argv)

    from components import keras_mode

    os.environ.update(keras_mode.ENVIRONMENT)
    from pipeline.config import load_config

    cfg = load_config(args.config, args.work_dir)
    if _latest(cfg) is None:
        command = [sys.executable, str(REPO / "runner.py"), "--local", "--config", str(args.config)]
        if args.work_dir:
            command += ["--work-dir", str(args.work_dir)]
        print("no trained model yet: running the pipeline first", flush=True)
        subprocess.run(command, check=True)
    model_uri, examples_uri, model_run_uri = _latest(cfg)
    _table(cfg, model_uri, examples_uri, args.latency_calls)
    _epochs(model_run_uri)
    return 0


def _latest(cfg) -> tuple[str, str, str] | None:
    """The newest Trainer model, model_run and ImageExampleGen examples of this pipeline."""
    from pipeline import metadata

    if not cfg.metadata_path.is_file():
        return None
    root = f"{cfg.pipeline_root}/"
    with metadata.open_store(cfg.metadata_path) as store:

        def newest(type_name: str, producer: str) -> str | None:
            found = [
                a
                for a in store.get_artifacts_by_type(type_name)
                if a.uri.startswith(root) and f"/{producer}/" in a.uri
            ]
            return max(found, key=lambda a: a.id).uri if found else None

        model = newest("Model", "Trainer")
        model_run = newest("ModelRun", "Trainer")
        examples = newest("Examples", "ImageExampleGen")
    if not (model and examples and model_run):
        return None
    return model, examples, model_run


def _table(cfg, model_uri: str, examples_uri: str, latency_calls: int) -> None:
    import numpy as np
    import tensorflow as tf

    from components.examples_io import read_serialized_examples
    from components.tflite_converter import image_forms, parity
    from components.tflite_converter.storage import directory_size

    feature = image_forms.image_feature(cfg.spec)
    saved_model = os.path.join(model_uri, "Format-Serving")
    test = [tf.train.Example.FromString(r) for r in read_serialized_examples(examples_uri, "test")]
    images = np.array([e.features.feature[feature.name].bytes_list.value[0] for e in test], object)
    classes = list(cfg.spec.label.classes)
    labels = np.array(
        [
            classes.index(e.features.feature[cfg.spec.label.name].bytes_list.value[0].decode())
            for e in test
        ]
    )
    train_uri = read_serialized_examples(examples_uri, "train", cfg.tflite.representative_examples)
    train_images = np.array(
        [
            tf.train.Example.FromString(r).features.feature[feature.name].bytes_list.value[0]
            for r in train_uri
        ],
        object,
    )
    train_pixels = image_forms.pixels(train_images, feature)
    forms = {
        "SavedModel": (
            parity.saved_model_predictor(saved_model, cfg.spec.task),
            directory_size(saved_model),
        )
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, quantization, int8_io in [
            ("float16", "float16", False),
            ("int8", "int8", False),
            ("micro", "int8", True),
        ]:
            form = image_forms.convert_image_model(
                saved_model,
                f"{tmp}/{name}.tflite",
                feature,
                quantization,
                representative_pixels=lambda: [train_pixels],
                int8_io=int8_io,
            )
            flatbuffer = Path(form.path).read_bytes()
            forms[name] = (
                image_forms.image_predictor(flatbuffer, feature, cfg.spec.task),
                form.size_bytes,
            )
    print(f"model  {saved_model}")
    print(
        f"test   {len(labels)} images, {feature.option('height')}x{feature.option('width')}"
        f"x{feature.option('channels')}, model {feature.option('model')}\n"
    )
    print(
        f"{'form':<11} {'size KiB':>9} {'x SavedModel':>12} {'test acc':>9} {'p50 ms':>8} "
        f"{'p99 ms':>8}"
    )
    base_size, base_accuracy = forms["SavedModel"][1], None
    for name, (predict, size) in forms.items():
        accuracy = float(np.mean(predict({feature.name: images}).argmax(axis=1) == labels))
        base_accuracy = accuracy if base_accuracy is None else base_accuracy
        p50, p99 = parity.latency_ms(
            predict, parity.single_examples({feature.name: images}), latency_calls
        )
        print(
            f"{name:<11} {size / 1024:>9.1f} {size / base_size:>12.3f} {accuracy:>9.3f} "
            f"{p50:>8.2f} {p99:>8.2f}"
            + ("" if name == "SavedModel" else f"   loss {base_accuracy - accuracy:+.3f}")
        )
    print(
        f"\ntargets: int8 <= {TARGET_SIZE_RATIO} x SavedModel size, <= "
        f"{TARGET_ACCURACY_LOSS:.2f} accuracy loss; p50 <= {TARGET_P50_MS:.0f} ms for every form"
    )


def _epochs(model_run_uri: str) -> None:
    history = json.loads(Path(model_run_uri, "history.json").read_text())
    seconds = history["history"].get("epoch_seconds") or []
    if not seconds:
        print("training: history.json has no epoch_seconds (trained before they were recorded)")
        return
    steps = history.get("steps_per_epoch")
    later = sorted(seconds[1:] or seconds)
    print(
        f"training: {len(seconds)} epochs of {steps} steps; the first {seconds[0]:.2f} s "
        f"(tracing included), then a median {later[len(later) // 2]:.2f} s per epoch"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
