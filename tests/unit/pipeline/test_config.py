"""``load_config``: the shipped config loads; every kind of bad config names its key."""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components import features
from components.trainer.hparams import HyperParameters
from pipeline.config import (
    DEFAULT_MISSING_VALUES,
    ConfigError,
    PipelineConfig,
    TunerConfig,
    load_config,
)

REPO = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG = REPO / "configs" / "penguins.yaml"
CSV_DIR = REPO / "data" / "penguins"
SCHEMA_PATH = REPO / "schemas" / "penguins" / "schema.pbtxt"


def default_raw() -> dict:
    """The shipped config as a dict, with its data paths made absolute."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data"]["csv_dir"] = str(CSV_DIR)
    raw["validation"]["schema_path"] = str(SCHEMA_PATH)
    return raw


def write_yaml(directory: Path, raw) -> Path:
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return load_config(DEFAULT_CONFIG)


def test_shipped_config_values(config):
    assert config.name == "penguins"
    assert config.spec.label == features.Label("species", ("Adelie", "Chinstrap", "Gentoo"))
    assert config.spec.task == "classification"
    assert config.spec.slices == ("island", "sex")
    assert config.model_name == "penguins"
    assert (config.data.splits.train, config.data.splits.eval, config.data.splits.test) == (7, 2, 1)
    assert config.validation.on_anomalies == "fail"
    assert dataclasses.asdict(config.data.min_examples) == {"train": 50, "eval": 20, "test": 10}
    assert config.data.missing_values == DEFAULT_MISSING_VALUES
    assert {"", "NA", "N/A", "NaN", "null"} <= set(DEFAULT_MISSING_VALUES)
    assert config.trainer.hyperparameters == HyperParameters(
        hidden_units=(16, 8), learning_rate=0.01, dropout=0.0, batch_size=32, epochs=60
    )
    assert config.tuner.enabled is False
    assert config.evaluator.min_accuracy == 0.8
    assert config.evaluator.max_examples == 10_000
    assert config.beam.extra_args == ()
    assert config.source == DEFAULT_CONFIG


def test_relative_paths_resolve_against_the_config_directory(config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_config(DEFAULT_CONFIG) == config
    assert config.data.csv_dir == CSV_DIR
    assert config.validation.schema_path == SCHEMA_PATH
    assert config.work_dir == REPO / "work"
    assert config.pipeline_root == REPO / "work" / "pipelines" / "penguins"
    assert config.serving_model_dir == REPO / "work" / "serving" / "penguins"


def test_relative_config_path_is_made_absolute(config, monkeypatch):
    monkeypatch.chdir(REPO)
    assert load_config(Path("configs/penguins.yaml")) == config


def test_work_dir_override(tmp_path):
    config = load_config(DEFAULT_CONFIG, work_dir=tmp_path / "w")
    assert config.work_dir == tmp_path / "w"
    assert config.metadata_path == tmp_path / "w" / "metadata.sqlite"
    assert config.runs_dir == tmp_path / "w" / "runs"


def test_work_dir_defaults_next_to_the_config_directory(tmp_path):
    raw = default_raw()
    del raw["work_dir"]
    (tmp_path / "configs").mkdir()
    config = load_config(write_yaml(tmp_path / "configs", raw))
    assert config.work_dir == tmp_path / "work"


def test_serving_dir_relative_to_config(tmp_path):
    raw = default_raw()
    raw["pusher"]["serving_dir"] = "models"
    config = load_config(write_yaml(tmp_path, raw))
    assert config.serving_model_dir == tmp_path / "models" / "penguins"


def test_schema_path_may_be_null(tmp_path):
    raw = default_raw()
    raw["validation"]["schema_path"] = None
    assert load_config(write_yaml(tmp_path, raw)).validation.schema_path is None


def test_evaluator_cap_may_be_null(tmp_path):
    raw = default_raw()
    raw["evaluator"]["max_examples"] = None
    assert load_config(write_yaml(tmp_path, raw)).evaluator.max_examples is None


def test_omitted_sections_take_defaults(tmp_path):
    raw = {
        "name": "minimal",
        "data": {"csv_dir": str(CSV_DIR)},
        "label": {"name": "species", "classes": ["a", "b"]},
        "features": {"island": "categorical"},
    }
    config = load_config(write_yaml(tmp_path, raw))
    assert config.spec.task == "classification"
    assert config.model_name == "minimal"
    assert config.trainer.steps_per_epoch == 0
    assert config.data.missing_values == DEFAULT_MISSING_VALUES
    assert config.data.min_examples.train == 50
    assert config.trainer.hyperparameters == HyperParameters()
    assert config.validation.schema_path is None
    assert config.beam.direct_running_mode == "auto"


def test_empty_section_takes_defaults(tmp_path):
    raw = default_raw()
    raw["tuner"] = None
    assert load_config(write_yaml(tmp_path, raw)).tuner == TunerConfig()


def test_int_accepted_where_float_expected(tmp_path):
    raw = default_raw()
    raw["trainer"]["hyperparameters"]["learning_rate"] = 1
    hparams = load_config(write_yaml(tmp_path, raw)).trainer.hyperparameters
    assert hparams.learning_rate == 1.0
    assert isinstance(hparams.learning_rate, float)


@pytest.mark.parametrize(
    "path",
    [
        (),
        ("data",),
        ("data", "splits"),
        ("trainer",),
        ("trainer", "hyperparameters"),
        ("tuner",),
        ("beam",),
    ],
    ids=lambda p: ".".join(p) or "top",
)
def test_config_is_frozen(config, path):
    section = config
    for name in path:
        section = getattr(section, name)
    field = dataclasses.fields(section)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(section, field, getattr(section, field))


def test_digest_is_stable(config):
    assert config.digest() == load_config(DEFAULT_CONFIG).digest()
    assert len(config.digest()) == 12


@pytest.mark.parametrize(
    "change",
    [
        lambda c: dataclasses.replace(c, name="other"),
        lambda c: dataclasses.replace(
            c, evaluator=dataclasses.replace(c.evaluator, min_accuracy=0.9)
        ),
        lambda c: dataclasses.replace(
            c,
            trainer=dataclasses.replace(
                c.trainer,
                hyperparameters=dataclasses.replace(c.trainer.hyperparameters, dropout=0.1),
            ),
        ),
        lambda c: dataclasses.replace(c, work_dir=c.work_dir / "elsewhere"),
    ],
    ids=["name", "evaluator.min_accuracy", "trainer.hyperparameters.dropout", "work_dir"],
)
def test_digest_changes_with_a_setting(config, change):
    assert change(config).digest() != config.digest()


def test_digest_changes_with_a_setting_in_the_file(tmp_path, config):
    raw = default_raw()
    same = load_config(write_yaml(tmp_path, raw), work_dir=config.work_dir)
    raw["trainer"]["steps_per_epoch"] = 9
    (tmp_path / "changed").mkdir()
    changed = load_config(write_yaml(tmp_path / "changed", raw), work_dir=config.work_dir)
    assert changed.digest() != same.digest()


def _set(key: str, value):
    def edit(raw: dict) -> None:
        *parents, leaf = key.split(".")
        section = raw
        for name in parents:
            section = section[name]
        section[leaf] = value

    return edit


def _non_csv_dir(tmp_path: Path) -> str:
    directory = tmp_path / "csv"
    directory.mkdir()
    (directory / "penguins.csv").write_text((CSV_DIR / "penguins.csv").read_text())
    (directory / "README.md").write_text("not data\n")
    return str(directory)


# (id, key the message must name, edit of the default raw config)
BAD_CONFIGS = [
    ("unknown top-level key", "colour", _set("colour", "blue")),
    ("unknown section key", "trainer.batch", _set("trainer.batch", 3)),
    (
        "unknown nested key",
        "trainer.hyperparameters.foo",
        _set("trainer.hyperparameters.foo", 1),
    ),
    (
        "string where int",
        "trainer.hyperparameters.epochs",
        _set("trainer.hyperparameters.epochs", "ten"),
    ),
    ("bool where int", "trainer.steps_per_epoch", _set("trainer.steps_per_epoch", True)),
    ("float where int", "trainer.eval_steps", _set("trainer.eval_steps", 4.5)),
    ("negative steps", "trainer.steps_per_epoch", _set("trainer.steps_per_epoch", -1)),
    ("no parity examples", "tflite.parity_examples", _set("tflite.parity_examples", 0)),
    ("string where bool", "tuner.enabled", _set("tuner.enabled", "yes")),
    ("scalar where list", "label.classes", _set("label.classes", "Adelie")),
    ("float class", "label.classes[1]", _set("label.classes", ["a", 2.5])),
    ("old label_classes key", "data.label_classes", _set("data.label_classes", ["a", "b"])),
    ("unknown label key", "label.colour", _set("label.colour", "red")),
    ("missing label", "label", lambda raw: raw.pop("label")),
    ("missing features", "features", lambda raw: raw.pop("features")),
    ("unknown task", "task", _set("task", "ranking")),
    ("unknown feature type", "features.island.type", _set("features.island", "colour")),
    ("feature not in csv", "features.beak", _set("features.beak", "numeric")),
    ("label not in csv", "label.name", _set("label.name", "genus")),
    ("label is a feature", "features.species", _set("features.species", "categorical")),
    ("classes on regression", "label.classes", _set("task", "regression")),
    (
        "text option on numeric",
        "features.body_mass_g.max_tokens",
        _set("features.body_mass_g", {"type": "numeric", "max_tokens": 10}),
    ),
    ("numeric on a text column", "features.island", _set("features.island", "numeric")),
    ("slice not a feature", "slices", _set("slices", ["year"])),
    (
        "regression without max_error",
        "evaluator.max_error",
        lambda raw: raw.update(task="regression", label={"name": "year"}),
    ),
    (
        "micro with buckets",
        "tflite.micro",
        lambda raw: (
            raw["features"].update(body_mass_g={"type": "numeric", "bucketize": 4}),
            raw["tflite"].update(micro=True),
        ),
    ),
    (
        "micro with text",
        "tflite.micro",
        lambda raw: (raw["features"].update(sex="text"), raw["tflite"].update(micro=True)),
    ),
    ("scalar where section", "evaluator", _set("evaluator", 0.8)),
    ("empty path", "data.csv_dir", _set("data.csv_dir", "")),
    (
        "learning_rate 0",
        "trainer.hyperparameters.learning_rate",
        _set("trainer.hyperparameters.learning_rate", 0),
    ),
    (
        "dropout 1",
        "trainer.hyperparameters.dropout",
        _set("trainer.hyperparameters.dropout", 1.0),
    ),
    (
        "empty hidden_units",
        "trainer.hyperparameters.hidden_units",
        _set("trainer.hyperparameters.hidden_units", []),
    ),
    ("min_accuracy 1.5", "evaluator.min_accuracy", _set("evaluator.min_accuracy", 1.5)),
    (
        "negative max_accuracy_drop",
        "evaluator.max_accuracy_drop",
        _set("evaluator.max_accuracy_drop", -0.1),
    ),
    ("max_examples 0", "evaluator.max_examples", _set("evaluator.max_examples", 0)),
    (
        "max_examples below the eval minimum",
        "evaluator.max_examples",
        _set("evaluator.max_examples", 10),
    ),
    ("epochs 0", "trainer.hyperparameters.epochs", _set("trainer.hyperparameters.epochs", 0)),
    ("tuner epochs 0", "tuner.epochs", _set("tuner.epochs", 0)),
    (
        "tuner learning rate 2",
        "tuner.learning_rate_choices",
        _set("tuner.learning_rate_choices", [0.01, 2]),
    ),
    ("split weight 0", "data.splits.test", _set("data.splits.test", 0)),
    ("min_examples 0", "data.min_examples.eval", _set("data.min_examples.eval", 0)),
    ("unknown split minimum", "data.min_examples.valid", _set("data.min_examples.valid", 5)),
    ("scalar missing_values", "data.missing_values", _set("data.missing_values", "NA")),
    # YAML reads a bare null as nothing, not as the text "null"
    ("bare null token", "data.missing_values[1]", _set("data.missing_values", ["NA", None])),
    ("padded token", "data.missing_values", _set("data.missing_values", [" NA"])),
    ("negative workers", "beam.direct_num_workers", _set("beam.direct_num_workers", -1)),
    (
        "bad enum on_anomalies",
        "validation.on_anomalies",
        _set("validation.on_anomalies", "maybe"),
    ),
    ("bad enum running mode", "beam.direct_running_mode", _set("beam.direct_running_mode", "x")),
    ("bad name", "name", _set("name", "pen guins")),
    ("bad model_name", "pusher.model_name", _set("pusher.model_name", "a/b")),
    ("missing csv dir", "data.csv_dir", _set("data.csv_dir", str(REPO / "data" / "nowhere"))),
    (
        "missing schema file",
        "validation.schema_path",
        _set("validation.schema_path", str(REPO / "schemas" / "penguins" / "missing.pbtxt")),
    ),
    (
        "duplicate label classes",
        "label.classes",
        _set("label.classes", ["Adelie", "Gentoo", "Adelie"]),
    ),
    ("single label class", "label.classes", _set("label.classes", ["Adelie"])),
    ("extra_args without --", "beam.extra_args", _set("beam.extra_args", ["--a=1", "b=2"])),
    (
        "NaN size threshold",
        "beam.multi_processing_above_mb",
        _set("beam.multi_processing_above_mb", float("nan")),
    ),
    ("missing data section", "data", lambda raw: raw.pop("data")),
    ("missing name", "name", lambda raw: raw.pop("name")),
    ("source is not a setting", "source", _set("source", "x.yaml")),
]


@pytest.mark.parametrize(
    ("key", "edit"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_names_the_key(tmp_path, key, edit):
    raw = default_raw()
    edit(raw)
    path = write_yaml(tmp_path, raw)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert _named_key(message.removeprefix(f"{path}: ")) == key


def _named_key(detail: str) -> str:
    """The key in ``unknown key 'k'``, ``missing key 'k'`` or ``k: what is wrong``."""
    quoted = re.fullmatch(r"(?:unknown|missing) key '([^']+)'", detail)
    return quoted.group(1) if quoted else detail.split(": ")[0]


def test_csv_dir_holding_a_non_csv_file(tmp_path):
    raw = default_raw()
    raw["data"]["csv_dir"] = _non_csv_dir(tmp_path)
    path = write_yaml(tmp_path, raw)
    with pytest.raises(ConfigError, match=r"^[^\n]*: data\.csv_dir: .*README\.md[^\n]*$"):
        load_config(path)


def test_csv_dir_without_a_csv_file(tmp_path):
    raw = default_raw()
    (tmp_path / "empty").mkdir()
    raw["data"]["csv_dir"] = str(tmp_path / "empty")
    with pytest.raises(ConfigError, match=r"data\.csv_dir: no \.csv file"):
        load_config(write_yaml(tmp_path, raw))


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("name: [penguins\ndata: {\n", "not valid YAML"),
        ("- name: penguins\n- data: {}\n", "top level must be a mapping"),
        ("just a string\n", "top level must be a mapping"),
        ("", "top level must be a mapping"),
        ("name: a\nname: b\n", "key 'name' appears twice"),
    ],
    ids=["invalid yaml", "list", "scalar", "empty file", "duplicate key"],
)
def test_unusable_file_is_one_line(tmp_path, text, phrase):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert phrase in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_label_classes_match_the_schema_label_domain(config):
    schema = text_format.Parse(config.validation.schema_path.read_text(), schema_pb2.Schema())
    (label,) = [f for f in schema.feature if f.name == config.spec.label.name]
    (domain,) = [d for d in schema.string_domain if d.name == label.domain]
    assert tuple(domain.value) == config.spec.label.classes


def test_integer_classes_are_read_as_their_decimal_text(tmp_path):
    raw = default_raw()
    raw["validation"]["schema_path"] = None
    raw["label"] = {"name": "year", "classes": [2007, 2008, 2009]}
    assert load_config(write_yaml(tmp_path, raw)).spec.label.classes == ("2007", "2008", "2009")


def test_quoted_header_columns_are_found(tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "d.csv").write_text('\ufeff"species","island"\r\nAdelie,Dream\r\n')
    raw = {
        "name": "quoted",
        "data": {"csv_dir": str(tmp_path / "csv")},
        "label": {"name": "species", "classes": ["Adelie", "Gentoo"]},
        "features": {"island": "categorical"},
    }
    assert load_config(write_yaml(tmp_path, raw)).spec.feature_names == ("island",)


DIGITS_DIR = REPO / "data" / "digits"


def image_raw(image_dir: Path = DIGITS_DIR, **data) -> dict:
    """The shipped config pointed at a folder of class folders instead of the CSV.

    Its one feature is the images' height: the config must not depend on the image
    feature type to load image data.
    """
    raw = default_raw()
    raw["data"] = {"image_dir": str(image_dir), **data}
    raw.update(
        label={"name": "label", "classes": [str(d) for d in range(10)]},
        features={"height": "numeric"},
        slices=[],
    )
    raw["validation"]["schema_path"] = None
    return raw


def test_image_dir_instead_of_csv_dir(tmp_path):
    config = load_config(write_yaml(tmp_path, image_raw()))
    data = config.data
    assert data.image_dir == DIGITS_DIR and data.csv_dir is None
    assert data.data_dir == DIGITS_DIR
    assert data.max_class_share == 0.9
    assert data.image_formats == ("png", "jpeg")
    assert data.class_folders() == tuple(str(d) for d in range(10))
    assert data.header() == ("image", "label", "height", "width", "channels", "format", "file_name")
    assert data.input_bytes() == sum(p.stat().st_size for p in DIGITS_DIR.rglob("*.png"))


def test_image_settings_are_read(tmp_path):
    raw = image_raw(max_class_share=0.5, image_formats=["png", "gif", "bmp"])
    data = load_config(write_yaml(tmp_path, raw)).data
    assert data.max_class_share == 0.5 and data.image_formats == ("png", "gif", "bmp")


def _image_dir_with(tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "images"
    for name in names:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    return root


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda raw, tmp: raw["data"].update(csv_dir=str(CSV_DIR)),
            "data.image_dir: set either csv_dir (a folder of CSV files) or image_dir (a folder "
            "of class folders of images), not both",
        ),
        (
            lambda raw, tmp: raw["data"].pop("image_dir"),
            "data.csv_dir: set either csv_dir (a folder of CSV files) or image_dir (a folder "
            "of class folders of images), not neither",
        ),
        (
            lambda raw, tmp: raw["data"].update(image_dir=str(tmp / "nowhere")),
            "data.image_dir: no such directory: {tmp}/nowhere",
        ),
        (
            lambda raw, tmp: raw["data"].update(image_dir=str(_image_dir_with(tmp, ".git/"))),
            "data.image_dir: no class folder in {tmp}/images (expected <class>/<image file>)",
        ),
        (
            lambda raw, tmp: raw["data"].update(
                image_dir=str(_image_dir_with(tmp, "0/a.png", "b.png", "README.md", ".hidden"))
            ),
            "data.image_dir: holds files outside class folders (ExampleGen reads only "
            "<image_dir>/<class>/<file>): README.md, b.png",
        ),
        (
            lambda raw, tmp: raw["data"].update(max_class_share=0),
            "data.max_class_share: must be in (0, 1], got 0.0",
        ),
        (
            lambda raw, tmp: raw["data"].update(max_class_share=1.5),
            "data.max_class_share: must be in (0, 1], got 1.5",
        ),
        (
            lambda raw, tmp: raw["data"].update(image_formats=["png", "tiff"]),
            "data.image_formats: a list of distinct formats of png, jpeg, gif, bmp, "
            "got [png, tiff]",
        ),
        (
            lambda raw, tmp: raw["data"].update(image_formats=["png", "png"]),
            "data.image_formats: a list of distinct formats of png, jpeg, gif, bmp, got [png, png]",
        ),
        (
            lambda raw, tmp: raw["data"].update(image_formats=[]),
            "data.image_formats: a list of distinct formats of png, jpeg, gif, bmp, got []",
        ),
        (
            lambda raw, tmp: raw["label"].update(name="digit"),
            "label.name: no column 'digit' in the image examples (columns: image, label, "
            "height, width, channels, format, file_name)",
        ),
    ],
)
def test_bad_image_data_config_is_one_line_naming_the_key(tmp_path, edit, message):
    raw = image_raw()
    edit(raw, tmp_path)
    path = write_yaml(tmp_path, raw)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == f"{path}: {message.format(tmp=tmp_path)}"


def test_the_digits_schema_holds_the_image_examples_keys(tmp_path):
    raw = image_raw()
    raw["validation"]["schema_path"] = str(REPO / "schemas" / "digits" / "schema.pbtxt")
    raw["features"] = {name: "numeric" for name in ("height", "width", "channels")}
    config = load_config(write_yaml(tmp_path, raw))
    schema = text_format.Parse(config.validation.schema_path.read_text(), schema_pb2.Schema())
    assert [f.name for f in schema.feature] == list(config.data.header())
    (labels,) = [d.value for d in schema.string_domain if d.name == "label"]
    assert tuple(labels) == config.data.class_folders() == config.spec.label.classes
