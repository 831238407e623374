"""Up-to-date check: is a new run's every input that of the last complete run?

Checked by ``runner.py --local`` before TFX, TensorFlow and Beam are imported. A run
records the fingerprint of its inputs in ``runs/<run id>/inputs.json`` when it starts; the
next run compares its own with the newest run of the pipeline that finished without an
error. When every part is equal nothing can come out differently (TFX's cache would find
every component cached), so the runner shows that run's summary instead of running.
When a part differs the run goes ahead, TFX's cache deciding per component, and the
runner names the parts that changed.

Parts (each a SHA-256 hex digest):

- ``config``: every setting of the loaded config (``PipelineConfig.digest``), paths
  included;
- ``code``: the ``.py`` files under ``components/`` and ``pipeline/``;
- ``schema``: the curated schema file's bytes (``validation.schema_path``), if any;
- ``data``: path, size and modification time (ns) of each input file: the CSV files of
  the spans read, or every file under the class folders (and the folders' names), and
  the pretrained weights files; as TFX's own input fingerprint, a file rewritten with the
  same size within the same mtime tick is not seen;
- ``packages``: the installed versions of the libraries whose code the components run.

The work dir must still hold ML Metadata and the pipeline root; otherwise nothing is up
to date.
"""

import dataclasses
import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

from pipeline import code_fingerprint
from pipeline.config import PipelineConfig
from pipeline.run_files import INPUTS_FILE, SUMMARY_FILE
from pipeline.run_summary import RunSummary, read_summary_file

PARTS = ("config", "code", "schema", "data", "packages")
PACKAGES = (
    "tfx",
    "tensorflow",
    "tf-keras",
    "tensorflow-transform",
    "tensorflow-data-validation",
    "tensorflow-model-analysis",
    "tfx-bsl",
    "apache-beam",
    "ml-metadata",
    "keras-tuner",
)
_REPO = Path(__file__).resolve().parents[1]
_CODE_DIRS = ("components", "pipeline")


@dataclasses.dataclass(frozen=True)
class LastRun:
    """The newest run of a pipeline that finished without an error.

    Attributes:
        run_id: Its id (the name of its directory under ``runs/``).
        inputs: Its recorded fingerprint (part -> digest); empty when it recorded none.
        summary: Its ``summary.json``.
    """

    run_id: str
    inputs: dict[str, str]
    summary: RunSummary


def fingerprint(cfg: PipelineConfig) -> dict[str, str]:
    """Part name (``PARTS``) -> SHA-256 hex digest of that part of the run's inputs.

    Raises:
        OSError: An input file or directory cannot be read.
    """
    return {
        "config": _digest([cfg.digest()]),
        "code": code_fingerprint.digest(_REPO, _CODE_DIRS),
        "schema": _digest(_schema_entries(cfg)),
        "data": _digest(_data_entries(cfg)),
        "packages": _digest(_package_versions()),
    }


def write_inputs(run_dir: Path, inputs: dict[str, str]) -> Path:
    """Records a run's fingerprint as ``<run_dir>/inputs.json``.

    Raises:
        OSError: It cannot be written.
    """
    path = Path(run_dir) / INPUTS_FILE
    path.write_text(json.dumps(inputs, indent=2, sort_keys=True))
    return path


def last_complete_run(cfg: PipelineConfig) -> LastRun | None:
    """The newest run of ``cfg``'s pipeline whose ``summary.json`` has no error.

    Runs that failed, stopped at the data gate, were interrupted or are still going
    (no summary yet) are passed over; None when there is no complete run.

    Raises:
        OSError: The runs dir exists but cannot be listed.
    """
    if not cfg.runs_dir.is_dir():
        return None
    for run_dir in sorted(cfg.runs_dir.iterdir(), key=lambda p: p.name, reverse=True):
        summary = read_summary_file(run_dir / SUMMARY_FILE)
        if summary is None or summary.pipeline != cfg.name or summary.error is not None:
            continue
        return LastRun(run_dir.name, _read_inputs(run_dir / INPUTS_FILE), summary)
    return None


@dataclasses.dataclass(frozen=True)
class Check:
    """How a new run's inputs compare with the last complete run's.

    Attributes:
        last: The last complete run; None when there is none.
        changed: The parts that differ, in ``PARTS`` order; every part when there is
            nothing to compare with. Empty: up to date.
        reason: One line saying why the run goes ahead (empty when up to date).
    """

    last: LastRun | None
    changed: tuple[str, ...]
    reason: str

    @property
    def up_to_date(self) -> bool:
        return not self.changed


def check(cfg: PipelineConfig, inputs: dict[str, str]) -> Check:
    """Compares ``inputs`` (``fingerprint``) with the last complete run's.

    Raises:
        OSError: The runs dir exists but cannot be listed.
    """
    last = last_complete_run(cfg)
    if last is None:
        return Check(None, PARTS, "no complete run before this one")
    if not last.inputs:
        return Check(last, PARTS, f"run {last.run_id} recorded no inputs to compare with")
    if not (cfg.metadata_path.is_file() and cfg.pipeline_root.is_dir()):
        return Check(last, PARTS, "ML Metadata or the pipeline root is gone from the work dir")
    changed = tuple(part for part in PARTS if last.inputs.get(part) != inputs.get(part))
    reason = f"changed since run {last.run_id}: {', '.join(changed)}" if changed else ""
    return Check(last, changed, reason)


def _read_inputs(path: Path) -> dict[str, str]:
    try:
        inputs = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        return {}
    return inputs


def _digest(entries) -> str:
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.encode() if isinstance(entry, str) else entry)
        digest.update(b"\0")
    return digest.hexdigest()


def _schema_entries(cfg: PipelineConfig):
    path = cfg.validation.schema_path
    if path is not None:
        yield str(path)
        yield Path(path).read_bytes()


def _data_entries(cfg: PipelineConfig):
    if cfg.data.csv_dir is not None:
        files = cfg.data.csv_files()
    else:
        yield from (f"class {name}" for name in cfg.data.class_folders())
        files = _files_under(cfg.data.image_dir)
    files += [Path(f.option("weights")) for f in cfg.spec.of_type("image") if f.option("weights")]
    for path in files:
        status = path.stat()
        yield f"{path} {status.st_size} {status.st_mtime_ns}"


def _files_under(directory: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        found += [Path(root) / name for name in sorted(names)]
    return found


def _package_versions():
    for name in PACKAGES:
        try:
            yield f"{name}=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            yield f"{name} absent"
