"""Kubeflow Pipelines v2: compile the DAG into a pipeline package for our image, and submit it.

``compile_kubeflow`` turns ``create_pipeline(cfg, kubeflow=...)`` into a KFP v2 pipeline package
(the ``PipelineSpec``, plus a Kubernetes platform spec on open-source KFP) with TFX's
``KubeflowV2DagRunner``: every step runs in ``kubeflow.image`` (this repository's Dockerfile)
through TFX's container entry point, with the Keras mode of ``components.keras_mode`` in its
environment. ``submit`` hands a package to a KFP endpoint as a single run, or as a recurring run
when a schedule is given.
"""

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components import keras_mode
from pipeline.config import KubeflowConfig, PipelineConfig
from pipeline.pipeline import PUSHER_ID, create_pipeline

# What each step's container runs: ``python -m`` TFX's KFP v2 executor entry point.
CONTAINER_COMMAND = tuple(kubeflow_v2_dag_runner.KUBEFLOW_TFX_CMD)


class SubmitError(Exception):
    """The KFP endpoint could not be reached, or refused the submission."""


def compile_kubeflow(cfg: PipelineConfig, kubeflow: KubeflowConfig, output: Path) -> Path:
    """Compiles the pipeline into a KFP v2 pipeline package at ``output``.

    The package is the PipelineSpec (schema 2.1.0, which open-source KFP's driver reads) as
    a JSON document; on platform ``kubeflow`` a second document, the Kubernetes platform
    spec, mounts ``kubeflow.serving_pvc`` at ``kubeflow.serving_root`` in the ServingPusher
    step. JSON documents separated by ``---`` are YAML, the format KFP uploads take.

    Args:
        cfg: The pipeline configuration.
        kubeflow: Image, remote roots, Beam args, schedule and platform of the cluster run.
        output: File to write; its parent directories are created.

    Returns:
        ``output``.
    """
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=cfg.name, default_image=kubeflow.image, use_pipeline_spec_2_1=True
        )
    )
    job = runner.run(create_pipeline(cfg, kubeflow=kubeflow), write_out=False)
    spec = _with_environment(job["pipelineSpec"], keras_mode.ENVIRONMENT)
    # TFX writes a Vertex PipelineJob; a KFP endpoint takes the bare PipelineSpec, whose
    # own field carries the pipeline root.
    spec["defaultPipelineRoot"] = kubeflow.pipeline_root
    documents = [spec]
    if kubeflow.platform == "kubeflow":
        documents.append(_serving_volume(spec, kubeflow))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        "---\n".join(json.dumps(d, indent=2, sort_keys=True) + "\n" for d in documents)
    )
    return output


def read_package(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The PipelineSpec and the platform spec (None if absent) of a ``compile_kubeflow`` package."""
    spec, *platform = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    return spec, (platform[0] if platform else None)


def _serving_volume(spec: dict[str, Any], kubeflow: KubeflowConfig) -> dict[str, Any]:
    """Kubernetes platform spec: the serving PVC, mounted in the ServingPusher step."""
    executor = spec["root"]["dag"]["tasks"][PUSHER_ID]["componentRef"]["name"]
    label = spec["components"][executor]["executorLabel"]
    mount = {"constant": kubeflow.serving_pvc, "mountPath": kubeflow.serving_root}
    return {
        "platforms": {
            "kubernetes": {"deploymentSpec": {"executors": {label: {"pvcMount": [mount]}}}}
        }
    }


def submit(
    spec_path: Path,
    host: str,
    *,
    experiment: str,
    schedule: str | None = None,
    run_name: str | None = None,
) -> str:
    """Submits a compiled spec to a Kubeflow Pipelines endpoint.

    Needs the ``kubeflow`` dependency group (the ``kfp`` client).

    Args:
        spec_path: A spec written by ``compile_kubeflow``.
        host: KFP API endpoint, e.g. ``https://kfp.example.com/pipeline``.
        experiment: Experiment the run or recurring run is filed under (created if absent).
        schedule: Six-field cron: create a recurring run instead of a single run.
        run_name: Display name; defaults to the pipeline's name.

    Returns:
        The id of the run, or of the recurring run when ``schedule`` is given.

    Raises:
        SubmitError: The endpoint could not be reached or answered with an error.
    """
    import kfp  # the kubeflow dependency group; compiling does not need it

    spec, _ = read_package(spec_path)
    name = run_name or spec["pipelineInfo"]["name"]
    with _client_errors(host), tempfile.TemporaryDirectory() as tmp:
        client = kfp.Client(host=host)
        # kfp.Client reads packages by extension and takes only YAML; JSON is valid YAML.
        package = Path(tmp) / "pipeline.yaml"
        package.write_text(Path(spec_path).read_text())
        if schedule is None:
            result = client.create_run_from_pipeline_package(
                str(package), arguments={}, run_name=name, experiment_name=experiment
            )
            return result.run_id
        experiment_id = client.create_experiment(name=experiment).experiment_id
        recurring = client.create_recurring_run(
            experiment_id=experiment_id,
            job_name=name,
            cron_expression=schedule,
            no_catchup=True,
            pipeline_package_path=str(package),
        )
        return recurring.recurring_run_id


@contextlib.contextmanager
def _client_errors(host: str) -> Iterator[None]:
    """Turns the kfp client's HTTP and connection errors into one-line ``SubmitError``s."""
    import kfp_server_api  # both come with kfp
    import urllib3

    try:
        yield
    except kfp_server_api.ApiException as err:
        body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else err.body
        try:
            detail = json.loads(body)["message"]
        except (TypeError, ValueError, KeyError):
            detail = body or err.reason
        raise SubmitError(
            _one_line(f"{host} refused the submission: HTTP {err.status}: {detail}")
        ) from err
    except (urllib3.exceptions.HTTPError, TimeoutError) as err:
        # TimeoutError: kfp.Client gives up after its health checks keep failing.
        raise SubmitError(_one_line(f"cannot reach {host}: {err}")) from err


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _with_environment(spec: dict[str, Any], environment: dict[str, str]) -> dict[str, Any]:
    """Adds ``environment`` to every container step (the image sets it too)."""
    for executor in spec["deploymentSpec"]["executors"].values():
        container = executor.get("container")
        if container is None:  # resolver and importer steps run no container
            continue
        env = [e for e in container.get("env", []) if e["name"] not in environment]
        container["env"] = env + [{"name": k, "value": v} for k, v in environment.items()]
    return spec
