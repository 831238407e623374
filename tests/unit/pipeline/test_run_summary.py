"""The closing summary on screen (undefined values read n/a, never nan or 0.000), and
``summary.json`` read back as it was written."""

import json
import math

from pipeline import run_summary


def _run(**overrides) -> run_summary.RunSummary:
    values = dict.fromkeys(
        ("pipeline", "run_id", "config", "config_digest", "work_dir", "metadata_path", "log_path"),
        "x",
    )
    return run_summary.RunSummary(**values, components=[], outcome="done", **overrides)


def test_tflite_line_says_n_a_for_missing_and_undefined_figures():
    text = run_summary.format_summary(
        _run(
            tflite={
                "quantization": "dynamic",
                "tflite_size_bytes": 27052,
                "tflite_accuracy": 1.0,
                "saved_model_accuracy": math.nan,
                "max_abs_probability_diff": math.inf,
                "tflite_blessed": 1,
            }
        )
    )
    (line,) = [line for line in text.splitlines() if line.startswith("tflite")]
    assert line == (
        "tflite     dynamic: 26.4 KiB, accuracy 1.000 (SavedModel n/a), max |dp| n/a, "
        "p50 n/a ms (SavedModel n/a ms), blessed"
    )


def test_per_class_lines_say_n_a_for_undefined_metrics():
    metrics = run_summary.SplitMetrics(
        split="test",
        example_count=25,
        accuracy=1.0,
        per_class={"Chinstrap": {"precision": None, "recall": None, "auc": None}},
        baseline_accuracy=math.nan,
    )
    text = run_summary.format_summary(_run(test_metrics=metrics))
    assert "test       accuracy 1.000 on 25 examples (baseline n/a)" in text
    assert "           Chinstrap   precision n/a  recall n/a  auc n/a" in text
    assert "nan" not in text


def test_a_sampled_split_says_how_much_of_it_was_scored(tmp_path):
    eval_metrics = run_summary.SplitMetrics("eval", 10_000, 0.9, {}, split_examples=200_000)
    test_metrics = run_summary.SplitMetrics(
        "test", 10_000, None, {}, errors={"mae": 1.5}, split_examples=100_000
    )
    written = _run(eval_metrics=eval_metrics, test_metrics=test_metrics)
    path = tmp_path / "summary.json"
    path.write_text(written.to_json())

    text = run_summary.format_summary(run_summary.read_summary_file(path))

    assert "eval       accuracy 0.900 on 10000 of 200000 examples (uniform sample)" in text
    assert "test       mae 1.5 on 10000 of 100000 examples (uniform sample)" in text


def test_summary_json_reads_back_equal_with_undefined_metrics_as_none(tmp_path):
    metrics = run_summary.SplitMetrics(
        split="eval",
        example_count=3,
        accuracy=0.5,
        per_class={"a": {"precision": math.nan}},
        baseline_accuracy=0.25,
    )
    written = _run(eval_metrics=metrics, blessed=True, pushed_version="2")
    path = tmp_path / "summary.json"
    path.write_text(written.to_json())

    read = run_summary.read_summary_file(path)

    assert read.eval_metrics.per_class == {"a": {"precision": None}}
    assert read == _run(
        eval_metrics=run_summary.SplitMetrics("eval", 3, 0.5, {"a": {"precision": None}}, 0.25),
        blessed=True,
        pushed_version="2",
    )
    assert run_summary.format_summary(read) == run_summary.format_summary(written)


def test_a_missing_foreign_or_broken_summary_file_reads_as_none(tmp_path):
    assert run_summary.read_summary_file(tmp_path / "absent.json") is None
    (tmp_path / "other.json").write_text('{"pipeline": "p"}')
    assert run_summary.read_summary_file(tmp_path / "other.json") is None
    (tmp_path / "list.json").write_text("[1]")
    assert run_summary.read_summary_file(tmp_path / "list.json") is None
    partial_metrics = {**json.loads(_run().to_json()), "eval_metrics": {"split": "eval"}}
    (tmp_path / "metrics.json").write_text(json.dumps(partial_metrics))
    assert run_summary.read_summary_file(tmp_path / "metrics.json") is None
    (tmp_path / "broken.json").write_text("{")
    assert run_summary.read_summary_file(tmp_path / "broken.json") is None
