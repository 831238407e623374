"""serving_versions: what ``runner.py versions`` prints, from a real push history."""

import datetime
import json
import re

from pipeline import serving_versions

ISO_LOCAL = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


def test_iso_time_is_local_with_its_offset():
    epoch = 1_795_960_854.75
    shown = serving_versions.iso_time(epoch)
    assert re.fullmatch(ISO_LOCAL, shown)
    assert datetime.datetime.fromisoformat(shown).timestamp() == int(epoch)


def test_format_versions_shows_history_times_in_iso_8601(tmp_path):
    base = tmp_path / "penguins"
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"")
    records = [
        {"event": "push", "version": 1, "source_id": "a", "time": 1_795_960_854.5},
        {"event": "retire", "versions": [0]},  # no time recorded
    ]
    (base / "push_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    lines = serving_versions.format_versions("penguins", base).splitlines()

    assert lines[:3] == [f"penguins in {base}", "served     1", "current    1"]
    assert lines[3].split() == ["time", "(local)", "event", "details"]
    assert lines[4].split()[0] == serving_versions.iso_time(1_795_960_854.5)
    assert lines[4].split()[1:] == ["push", "version=1,", "source_id=a"]
    assert lines[5].split() == ["-", "retire", "versions=[0]"]


def test_format_versions_of_a_model_never_pushed(tmp_path):
    text = serving_versions.format_versions("penguins", tmp_path / "penguins")
    assert text.splitlines()[1:] == ["served     none", "current    none"]
