"""The pipeline image, checked statically (the build machines have no Docker engine).

The Dockerfile must build the image the compiled Kubeflow spec points at: the locked
environment with the kubeflow group (TFX's container entry point imports kfp-pipeline-spec),
the code, the Keras mode, and nothing secret.
"""

import re
import shlex
from pathlib import Path

import pytest
import yaml

from components import keras_mode

REPO = Path(__file__).resolve().parents[2]
CODE = ("runner.py", "pipeline/", "components/", "serving/", "schemas/", "configs/", "data/")
SECRET_NAME = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE", re.IGNORECASE)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), " ".join(rest.split())))
    return result


def arguments(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def env() -> dict[str, str]:
    values = {}
    for rest in arguments("ENV"):
        for item in shlex.split(rest):
            name, _, value = item.partition("=")
            values[name] = value
    return values


def locked_version(package: str) -> str:
    lock = (REPO / "uv.lock").read_text()
    match = re.search(rf'^name = "{re.escape(package)}"\nversion = "([^"]+)"', lock, re.M)
    assert match, package
    return match.group(1)


def test_base_images_are_pinned_to_exact_versions():
    images = [rest.split()[0] for rest in arguments("FROM")]
    assert images
    for image in images:
        tag = image.partition("@")[0].rpartition(":")[2]
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: not pinned to an exact version"
        assert "latest" not in tag


def test_python_matches_python_version_file():
    python = (REPO / ".python-version").read_text().split()[0]
    (final,) = [rest.split()[0] for rest in arguments("FROM")][-1:]
    assert final.startswith(f"python:{python}-"), final


def test_beam_boot_comes_from_the_locked_beam_version():
    beam = locked_version("apache-beam")
    assert any(rest.startswith(f"apache/beam_python3.10_sdk:{beam} ") for rest in arguments("FROM"))
    assert arguments("ENTRYPOINT") == ['["/opt/apache/beam/boot"]']


def test_uv_is_pinned_to_the_makefiles_version():
    makefile = (REPO / "Makefile").read_text()
    version = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M).group(1)
    installs = [rest for rest in arguments("RUN") if "pip install" in rest and "uv" in rest]
    assert installs and all(f'"uv=={version}"' in rest for rest in installs)


def test_the_lock_is_installed_frozen_without_dev_with_the_kubeflow_group():
    syncs = [rest for rest in arguments("RUN") if "uv sync" in rest]
    assert syncs
    for rest in syncs:
        flags = rest.split("&&")[0].split()
        assert {"--frozen", "--no-dev"} <= set(flags), rest
        assert "--group kubeflow" in rest, rest
    copied = " ".join(arguments("COPY"))
    assert "pyproject.toml" in copied and "uv.lock" in copied
    assert 'kubeflow = [{ name = "kfp", specifier = "==2.5.0" }]' in (REPO / "uv.lock").read_text()


def test_the_venv_is_on_path_and_python_imports_the_entry_point():
    values = env()
    venv = values["UV_PROJECT_ENVIRONMENT"]
    assert values["PATH"].startswith(f"{venv}/bin:")
    checks = " ".join(arguments("RUN"))
    assert "import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor" in checks


@pytest.mark.parametrize("path", CODE)
def test_code_and_data_are_copied(path):
    sources = [rest.split()[:-1] for rest in arguments("COPY") if not rest.startswith("--from")]
    assert any(path in source for source in sources), path


def test_keras_mode_is_set_for_every_process():
    assert keras_mode.ENVIRONMENT.items() <= env().items()


def test_the_shipped_kubeflow_config_matches_the_image_layout():
    (workdir,) = arguments("WORKDIR")
    settings = yaml.safe_load((REPO / "configs" / "kubeflow.yaml").read_text())["kubeflow"]
    schema = settings["schema_path"]
    assert schema.startswith(f"{workdir}/")
    assert (REPO / schema.removeprefix(f"{workdir}/")).is_file()
    assert settings["image"].rpartition(":")[2] not in ("", "latest")


def test_no_secrets_or_credentials():
    for keyword in ("ARG", "ENV", "LABEL"):
        for rest in arguments(keyword):
            names = [item.partition("=")[0] for item in shlex.split(rest)]
            assert not [n for n in names if SECRET_NAME.search(n)], f"{keyword} {rest}"
    text = (REPO / "Dockerfile").read_text()
    assert "GOOGLE_APPLICATION_CREDENTIALS" not in text
    assert not re.search(r"\.(pem|key|p12)\b|\.netrc|\.ssh|credentials\.json", text)
    assert not re.search(r"https?://[^/\s]+:[^@/\s]+@", text)  # user:password in a URL


def test_dockerignore_keeps_local_state_out_of_the_context():
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "work", ".git", "build", ".venv-*"} <= ignored
    assert not ignored & {"pipeline", "components", "serving", "schemas", "configs", "data"}
