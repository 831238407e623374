"""Kubeflow Pipelines v2: the compiled spec, rehearsed step by step on this machine.

The spec is compiled for the shipped CSV, the curated schema, a local serving root and
DirectRunner Beam args. The rehearsal then plays the launcher's part: it walks the DAG in
dependency order; for each container step it builds the ExecutorInput from the spec and the
upstream steps' executor outputs, puts it in place of ``{{$}}`` and runs the step's own command
and args (``python -m`` TFX's entry point, this interpreter) with the step's environment; it
evaluates each trigger condition on the artifacts the condition names and answers the resolver's
artifact queries from the artifacts produced so far. Output artifacts land in a local directory
standing in for the pipeline root.

Not rehearsed: the backend itself (its driver, ML Metadata, the resolver's queries, caching,
retries) and the image: the steps run in this environment, not in the container. A second run
takes the first run's outputs for the steps upstream of the resolver, as cache hits would give
them, and re-runs the rest against the first run's blessed model. Needs kfp-pipeline-spec (the
``kubeflow`` dependency group); without it the module is skipped.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip(
    "kfp.pipeline_spec.pipeline_spec_pb2",
    reason="kfp-pipeline-spec is not installed: uv sync --group kubeflow",
)

from components import keras_mode  # noqa: E402
from pipeline.config import KubeflowConfig, load_config  # noqa: E402
from pipeline.kubeflow import compile_kubeflow, read_package  # noqa: E402
from pipeline.pipeline import (  # noqa: E402
    BASELINE_RESOLVER_ID,
    EVALUATOR_ID,
    PUSHER_ID,
    TEST_EVALUATOR_ID,
    TFLITE_CONVERTER_ID,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
STEP_TIMEOUT_S = 1800
RESOLVER_TASKS = (
    f"{BASELINE_RESOLVER_ID}-model-blessing-resolver",
    f"{BASELINE_RESOLVER_ID}-model-resolver",
)
EXECUTED, SKIPPED, RESOLVED, CACHED = "executed", "skipped", "resolved", "cached"


# --- the rehearsal -----------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One rehearsed run: where it writes and what each task did.

    Attributes:
        spec: The compiled PipelineSpec, as JSON.
        root: Local directory standing in for the spec's ``defaultPipelineRoot``.
        run_id: Directory of this run under ``root``.
        store: Every artifact produced so far, oldest first, as (schema title, runtime
            artifact): what the resolver's queries search, as ML Metadata would be searched.
        outputs: Runtime artifacts each task produced, by task and output key.
        states: ``executed``, ``skipped``, ``resolved`` or ``cached``, by task.
        seconds: Wall time of each container step.
    """

    spec: dict
    root: Path
    run_id: str
    store: list[tuple[str, dict]]
    outputs: dict[str, dict[str, list[dict]]] = dataclasses.field(default_factory=dict)
    states: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def rehearse(
    spec: dict,
    root: Path,
    run_id: str,
    store: list[tuple[str, dict]],
    cached: dict[str, dict[str, list[dict]]] | None = None,
) -> Run:
    """Runs every task of ``spec`` in dependency order; raises on the first failing step.

    Tasks in ``cached`` are not run: their outputs are given, as cache hits.
    """
    run = Run(spec=spec, root=root, run_id=run_id, store=store)
    tasks = spec["root"]["dag"]["tasks"]
    for name in topological_order(tasks):
        task = tasks[name]
        if cached and name in cached:
            run.outputs[name] = cached[name]
            run.states[name] = CACHED
            continue
        component = spec["components"][task["componentRef"]["name"]]
        executor = executor_of(spec, name)
        artifacts, from_skipped = input_artifacts(task, component, run)
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition and not condition_holds(condition, artifacts):
            run.states[name] = SKIPPED
            continue
        if from_skipped:
            raise AssertionError(f"{name}: its inputs {from_skipped} come from skipped tasks")
        if "resolver" in executor:
            run.outputs[name] = resolve(executor["resolver"], artifacts, run.store)
            run.states[name] = RESOLVED
        elif "container" in executor:
            inputs = {"parameterValues": parameter_inputs(task), "artifacts": artifacts}
            started = time.monotonic()
            run.outputs[name] = run_container_step(
                name, component, executor["container"], inputs, run
            )
            run.seconds[name] = time.monotonic() - started
            run.states[name] = EXECUTED
            definitions = component.get("outputDefinitions", {}).get("artifacts", {})
            for key, listed in run.outputs[name].items():
                title = schema_title(definitions[key]["artifactType"])
                run.store += [(title, artifact) for artifact in listed]
        else:
            raise ValueError(f"{name}: executor kind {sorted(executor)} is not rehearsed")
    return run


def executor_of(spec: dict, task: str) -> dict:
    """The deployment spec's executor of ``task``: a ``container`` or a ``resolver``."""
    component = spec["components"][spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]
    return spec["deploymentSpec"]["executors"][component["executorLabel"]]


def upstream_tasks(tasks: dict) -> dict[str, set[str]]:
    """The tasks each task depends on or takes artifacts from, by task."""
    return {
        name: set(task.get("dependentTasks", []))
        | {
            spec["taskOutputArtifact"]["producerTask"]
            for spec in task.get("inputs", {}).get("artifacts", {}).values()
            if "taskOutputArtifact" in spec
        }
        for name, task in tasks.items()
    }


def topological_order(tasks: dict) -> list[str]:
    """Task names, each after the tasks it depends on or takes artifacts from."""
    upstream = upstream_tasks(tasks)
    order: list[str] = []
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in order and upstream[n] <= set(order))
        if not ready:
            raise ValueError(f"cycle or unknown task among {sorted(set(tasks) - set(order))}")
        order += ready
    return order


def schema_title(artifact_type: dict) -> str:
    """``tfx.Examples`` from a ``schemaTitle`` or from the title of an ``instanceSchema``."""
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type["instanceSchema"])["title"]


def parameter_inputs(task: dict) -> dict:
    """The task's constant parameters as ExecutorInput ``parameterValues``.

    Schema 2.1.0 constants (``runtimeValue.constant``, a protobuf Value): the only form
    open-source KFP's driver resolves, and the one ``compile_kubeflow`` writes.
    """
    values = {}
    for name, spec in task.get("inputs", {}).get("parameters", {}).items():
        runtime = spec.get("runtimeValue", {})
        if "constant" not in runtime:
            raise ValueError(f"parameter {name!r}: only 2.1.0 constants are rehearsed, got {spec}")
        values[name] = runtime["constant"]
    return values


def input_artifacts(task: dict, component: dict, run: Run) -> tuple[dict, list[str]]:
    """The task's input artifacts, and the names of those whose producer was skipped.

    Each is the producer's runtime artifact (name, uri, metadata from its executor output)
    typed by the consumer's input definition, as the launcher hands it on.
    """
    definitions = component.get("inputDefinitions", {}).get("artifacts", {})
    artifacts, from_skipped = {}, []
    for name, spec in task.get("inputs", {}).get("artifacts", {}).items():
        if "taskOutputArtifact" not in spec:
            raise ValueError(f"input artifact {name!r}: only task outputs are rehearsed: {spec}")
        producer = spec["taskOutputArtifact"]["producerTask"]
        if run.states[producer] == SKIPPED:
            from_skipped.append(name)
            continue
        title = schema_title(definitions[name]["artifactType"])
        produced = run.outputs[producer][spec["taskOutputArtifact"]["outputArtifactKey"]]
        artifacts[name] = {"artifacts": [{**a, "type": {"schemaTitle": title}} for a in produced]}
    return artifacts, from_skipped


_CONDITION = re.compile(
    r"inputs\.artifacts\['(?P<key>[^']+)'\]\.artifacts\[(?P<index>\d+)\]"
    r"\.metadata\['(?P<field>[^']+)'\] == (?P<value>-?\d+(?:\.\d+)?)"
)


def condition_holds(condition: str, artifacts: dict) -> bool:
    """Evaluates the one form of trigger condition TFX compiles for ``Cond`` on a property.

    ``inputs.artifacts['KEY'].artifacts[I].metadata['FIELD'] == NUMBER``, in parentheses or
    not; anything else raises.
    """
    text = condition.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise ValueError(f"trigger condition not understood by the rehearsal: {condition!r}")
    artifact = artifacts[match["key"]]["artifacts"][int(match["index"])]
    value = artifact["metadata"][match["field"]]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{condition!r}: metadata {match['field']!r} is {value!r}, not a number")
    return value == float(match["value"])


_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.artifacts\['([^']+)'\]\.metadata\['([^']+)'\]\}\}")


def resolve(resolver: dict, artifacts: dict, store: list[tuple[str, dict]]) -> dict:
    """Answers a resolver step's artifact queries: the latest stored artifact matching each.

    On a first run the store is empty, so the latest-blessed-model resolver's two queries find
    nothing and the Evaluator runs without a baseline, as on a fresh cluster.
    """
    return {
        key: query(spec["filter"], artifacts, store)
        for key, spec in resolver["outputArtifactQueries"].items()
    }


def query(filter_: str, artifacts: dict, store: list[tuple[str, dict]]) -> list[dict]:
    """The latest artifact in ``store`` matching ``filter_`` (``A AND B ...``), as a list."""
    for match in _PLACEHOLDER.finditer(filter_):
        listed = artifacts[match[1]]["artifacts"]
        if not listed:  # the query refers to an artifact that did not resolve
            return []
        filter_ = filter_.replace(match[0], str(listed[0]["metadata"][match[2]]))
    tests = [clause_test(clause) for clause in filter_.split(" AND ")]
    found = [artifact for title, artifact in store if all(t(title, artifact) for t in tests)]
    return found[-1:]


def clause_test(clause: str):
    """A predicate on (schema title, runtime artifact) for one clause of a resolver filter."""
    if match := re.fullmatch(r'schema_title="([^"]+)"', clause):
        return lambda title, _: title == match[1]
    if clause == "state=LIVE":  # nothing here is ever marked deleted
        return lambda _, __: True
    if match := re.fullmatch(r"metadata\.(\w+)\.number_value=(-?[\d.]+)", clause):
        return lambda _, artifact: artifact.get("metadata", {}).get(match[1]) == float(match[2])
    if match := re.fullmatch(r'name="([^"]+)"', clause):
        return lambda _, artifact: artifact.get("name") == match[1]
    raise ValueError(f"resolver filter clause not understood by the rehearsal: {clause!r}")


def run_container_step(
    name: str, component: dict, container: dict, inputs: dict, run: Run
) -> dict[str, list[dict]]:
    """Runs one container step as the launcher would; returns its output artifacts by key.

    Output artifacts get a name and a URI under the run's directory; the step's executor
    output file (written by TFX's entry point) supplies their metadata. A pre-cache-check
    hook (CsvExampleGen's span/fingerprint driver) runs first, on the same ExecutorInput.
    """
    task_dir = run.root / run.spec["pipelineInfo"]["name"] / run.run_id / name
    task_dir.mkdir(parents=True)
    outputs = component.get("outputDefinitions", {})
    if outputs.get("parameters"):
        raise ValueError(f"{name}: output parameters are not rehearsed")
    declared = {
        key: {
            "name": f"rehearsal/{run.run_id}/{name}/{key}",
            "uri": str(task_dir / key),
            "type": {"schemaTitle": schema_title(definition["artifactType"])},
        }
        for key, definition in outputs.get("artifacts", {}).items()
    }
    output_file = task_dir / "executor_output.json"
    executor_input = {
        "inputs": inputs,
        "outputs": {
            "artifacts": {key: {"artifacts": [a]} for key, a in declared.items()},
            "outputFile": str(output_file),
        },
    }
    environment = step_environment(container)
    hook = container.get("lifecycle", {}).get("preCacheCheck")
    if hook:
        run_command(f"{name}.pre_cache_check", hook, executor_input, environment, task_dir)
    run_command(name, container, executor_input, environment, task_dir)
    assert output_file.is_file(), f"{name}: wrote no executor output at {output_file}"
    written = json.loads(output_file.read_text()).get("artifacts", {})
    produced = {}
    for key, artifact in declared.items():
        listed = written.get(key, {}).get("artifacts") or [artifact]
        produced[key] = [{**artifact, **a, "type": artifact["type"]} for a in listed]
    return produced


def step_environment(container: dict) -> dict[str, str]:
    """This process's environment without the Keras mode, plus the step's own variables.

    The Keras mode is left out so that only the spec's ``env`` can set it.
    """
    environment = {k: v for k, v in os.environ.items() if k not in keras_mode.ENVIRONMENT}
    environment.update({e["name"]: e["value"] for e in container.get("env", [])})
    return environment


def run_command(
    label: str, container: dict, executor_input: dict, environment: dict, task_dir: Path
) -> None:
    """Runs ``command`` + ``args`` with ``{{$}}`` replaced by the ExecutorInput JSON."""
    command = list(container["command"])
    if command[0] != "python":
        raise ValueError(f"{label}: only python commands are rehearsed, got {command}")
    placeholder = json.dumps(executor_input)
    args = [placeholder if a == "{{$}}" else a for a in container.get("args", [])]
    unresolved = [a for a in args if a != placeholder and "{{$" in a]
    if unresolved:
        raise ValueError(f"{label}: placeholders not rehearsed: {unresolved}")
    log = task_dir / f"{label}.log"
    with log.open("w") as out:
        process = subprocess.run(
            [sys.executable, *command[1:], *args],
            cwd=REPO,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=STEP_TIMEOUT_S,
        )
    if process.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-60:])
        raise AssertionError(f"{label} exited {process.returncode}; log {log}:\n{tail}")


# --- the compiled spec, rehearsed --------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kfp_rehearsal")


@pytest.fixture(scope="module")
def kubeflow(workspace) -> KubeflowConfig:
    """Cluster settings pointing at this machine: local data, schema and serving root."""
    return KubeflowConfig(
        image="localhost/penguins:rehearsal",
        pipeline_root="gs://rehearsal-bucket/penguins",
        data_root=str(REPO / "data" / "penguins"),
        schema_path=str(REPO / "schemas" / "penguins" / "schema.pbtxt"),
        serving_root=str(workspace / "serving"),
        beam_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"),
        # Vertex: the platform whose backend runs the resolver steps rehearsed here.
        platform="vertex",
    )


@pytest.fixture(scope="module")
def spec(workspace, kubeflow) -> dict:
    raw = yaml.safe_load((REPO / "configs" / "penguins.yaml").read_text())
    raw["work_dir"] = str(workspace / "work")
    raw["data"]["csv_dir"] = str(REPO / "data" / "penguins")
    raw["validation"]["schema_path"] = str(REPO / "schemas" / "penguins" / "schema.pbtxt")
    raw["trainer"]["hyperparameters"]["epochs"] = 25
    config = workspace / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    path = compile_kubeflow(load_config(config), kubeflow, workspace / "build" / "pipeline.yaml")
    return read_package(path)[0]


@pytest.fixture(scope="module")
def pipeline_root(workspace, spec) -> Path:
    """Where the launcher's URIs under ``gs://bucket/path`` land here: ``<tmp>/gs/bucket/path``."""
    return workspace / re.sub(r"^(\w+)://", r"\1/", spec["defaultPipelineRoot"])


@pytest.fixture(scope="module")
def first_run(spec, pipeline_root) -> Run:
    return rehearse(spec, pipeline_root, "run-1", store=[])


@pytest.fixture(scope="module")
def second_run(spec, pipeline_root, first_run) -> Run:
    """The next run on unchanged data, code and settings.

    The steps upstream of the resolver would be cache hits, so the first run's outputs stand in
    for them; the resolver now finds the first run's blessed model, and everything from the
    Evaluator on runs again.
    """
    tasks = spec["root"]["dag"]["tasks"]
    upstream = upstream_tasks(tasks)
    downstream = set(RESOLVER_TASKS)
    for name in topological_order(tasks):
        if upstream[name] & downstream:
            downstream.add(name)
    cached = {name: first_run.outputs[name] for name in container_tasks(spec) - downstream}
    return rehearse(spec, pipeline_root, "run-2", list(first_run.store), cached=cached)


def container_tasks(spec: dict) -> set[str]:
    return {name for name in spec["root"]["dag"]["tasks"] if "container" in executor_of(spec, name)}


def only(run: Run, task: str, key: str) -> dict:
    (artifact,) = run.outputs[task][key]
    return artifact


def test_every_container_step_runs_and_writes_its_executor_output(spec, first_run):
    tasks = container_tasks(spec)
    assert {n for n, s in first_run.states.items() if s == EXECUTED} == tasks
    for name in tasks:
        task_dir = first_run.root / spec["pipelineInfo"]["name"] / first_run.run_id / name
        assert (task_dir / "executor_output.json").is_file(), name


def test_resolver_finds_no_baseline_on_a_first_run(first_run):
    assert {n: first_run.states[n] for n in RESOLVER_TASKS} == dict.fromkeys(
        RESOLVER_TASKS, RESOLVED
    )
    assert first_run.outputs[RESOLVER_TASKS[-1]] == {"model": []}


def test_evaluator_blesses_and_the_conditioned_steps_run(first_run):
    assert only(first_run, EVALUATOR_ID, "blessing")["metadata"]["blessed"] == 1.0
    for name in (TFLITE_CONVERTER_ID, TEST_EVALUATOR_ID, PUSHER_ID):
        assert first_run.states[name] == EXECUTED, name
    evaluation = Path(only(first_run, TEST_EVALUATOR_ID, "evaluation")["uri"])
    assert any(evaluation.iterdir())
    tflite = only(first_run, TFLITE_CONVERTER_ID, "tflite_model")
    assert (Path(tflite["uri"]) / "Format-Serving" / "tflite").is_file()


def test_serving_pusher_pushes_version_1(kubeflow, first_run):
    pushed = only(first_run, PUSHER_ID, "pushed_model")["metadata"]
    assert pushed["pushed"] == 1.0
    version = Path(kubeflow.serving_root) / "penguins" / "1"
    assert pushed["pushed_destination"] == str(version)
    assert (version / "saved_model.pb").is_file()


def test_second_run_evaluates_against_the_first_runs_blessed_model(first_run, second_run):
    rerun = {EVALUATOR_ID, TFLITE_CONVERTER_ID, TEST_EVALUATOR_ID, PUSHER_ID}
    assert {n for n, s in second_run.states.items() if s == EXECUTED} == rerun
    candidate = only(first_run, "Trainer", "model")["name"]
    assert [a["name"] for a in second_run.outputs[RESOLVER_TASKS[-1]]["model"]] == [candidate]
    blessing = only(second_run, EVALUATOR_ID, "blessing")["metadata"]
    assert blessing["blessed"] == 1.0
    assert blessing["baseline_model_id"] == candidate


def test_second_run_does_not_push_the_served_model_again(kubeflow, second_run):
    pushed = only(second_run, PUSHER_ID, "pushed_model")["metadata"]
    assert (pushed["already_served"], pushed["pushed_version"]) == (1.0, "1")
    served = Path(kubeflow.serving_root) / "penguins"
    assert sorted(p.name for p in served.iterdir() if p.name.isdigit()) == ["1"]


@pytest.mark.parametrize(
    "condition",
    [
        "inputs.parameter_values['blessed'] == 1",
        "inputs.artifacts['blessing'].artifacts[0].metadata['blessed'] != 1.0",
        "inputs.artifacts['blessing'].artifacts[0].metadata['blessed'] == 1.0 && true",
    ],
)
def test_conditions_the_rehearsal_does_not_know_fail_loudly(condition):
    blessing = {"blessing": {"artifacts": [{"metadata": {"blessed": 1.0}}]}}
    with pytest.raises(ValueError, match="not understood"):
        condition_holds(condition, blessing)


def test_resolver_filters_the_rehearsal_does_not_know_fail_loudly():
    with pytest.raises(ValueError, match="not understood"):
        query('schema_title="tfx.Model" AND create_time_since_epoch>0', {}, [])
