"""The pipeline image, checked statically (the build machines have no Docker engine).

The Dockerfile must build the image the compiled Kubeflow spec points at: the locked
environment with the kubeflow group (TFX's container entry point imports kfp-pipeline-spec),
the code, the Keras mode, and nothing secret.
"""

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components import keras_mode

REPO = Path(__file__).resolve().parents[2]
CODE = ("runner.py", "pipeline/", "components/", "serving/", "schemas/", "configs/", "data/")
ENTRY_POINT = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
LOCKED_PACKAGES = ("tfx", "tensorflow", "tf-keras", "apache-beam", "kfp-pipeline-spec")
# The interpreter this environment was made from: the image's Python version.
BASE_PYTHON = Path(sys.base_prefix) / "bin" / "python3.10"
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


# The build, rehearsed without Docker: the final stage's COPY and RUN steps replayed into a
# directory that stands for the image's file system. Base images are not pulled: Python is
# this machine's 3.10.13 (the base image's version, checked above), and Beam's boot binary is
# not copied. uv links from its cache here, where the image copies.
REHEARSED_RUN = {"pip install", "uv sync", "rm -rf /root/.cache/uv", "python -c"}


@dataclasses.dataclass(frozen=True)
class RehearsedImage:
    """The image's file system as a directory: ``root`` stands for ``/``."""

    root: Path
    workdir: Path
    python: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """Runs ``python *args`` in the image's WORKDIR with the image's environment."""
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def dockerignore_patterns() -> list[re.Pattern]:
    """``.dockerignore`` as regexes over context-relative paths (Docker's matching rules)."""
    patterns = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        regex = re.escape(line.strip("/"))
        regex = regex.replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        patterns.append(re.compile(regex))
    return patterns


def build_context(destination: Path) -> Path:
    """The files of the repository that ``.dockerignore`` lets into the build context."""
    patterns = dockerignore_patterns()
    for directory, dirnames, filenames in os.walk(REPO):
        relative = Path(directory).relative_to(REPO)
        kept = []
        for name in dirnames:
            if not any(p.fullmatch((relative / name).as_posix()) for p in patterns):
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            path = (relative / name).as_posix()
            if not any(p.fullmatch(path) for p in patterns):
                (destination / relative).mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / path, destination / path)
    return destination


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from + 1 :]


def rehearse_copy(rest: str, context: Path, workdir: Path) -> None:
    *sources, target = rest.split()
    destination = workdir / target
    for source in sources:
        path = context / source
        assert path.exists(), f"COPY {source}: not in the build context"
        if path.is_dir():
            shutil.copytree(path, destination, dirs_exist_ok=True)
        else:
            destination.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination / path.name)


def uv_command() -> list[str] | None:
    """uv where the Makefile installs it (one absolute path, no PATH lookup); None without it."""
    version = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    uv = REPO / ".tools" / f"uv-{version.group(1)}" / "bin" / "uv"
    return [str(uv)] if uv.is_file() else None


def rehearse_run(rest: str, image: RehearsedImage, uv: list[str], uv_env: dict[str, str]) -> None:
    for command in (c.strip() for c in rest.split("&&")):
        known = [prefix for prefix in REHEARSED_RUN if command.startswith(prefix)]
        assert known, f"RUN {command}: the rehearsal does not know this step"
        if command.startswith("uv sync"):
            result = subprocess.run(
                [*uv, *shlex.split(command)[1:]],
                cwd=image.workdir,
                env=uv_env,
                capture_output=True,
                text=True,
                timeout=900,
            )
        elif command.startswith("python -c"):
            result = image.run(*shlex.split(command)[1:])
        else:  # uv is already here (its pin is checked above); no cache to remove
            continue
        assert result.returncode == 0, f"RUN {command}\n{result.stderr[-3000:]}"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> RehearsedImage:
    uv = uv_command()
    if uv is None or not BASE_PYTHON.is_file():
        pytest.skip(f"needs uv and {BASE_PYTHON} (make setup)")
    root = tmp_path_factory.mktemp("image")
    context = build_context(tmp_path_factory.mktemp("context"))
    image_env = env()
    venv = root / image_env["UV_PROJECT_ENVIRONMENT"].lstrip("/")
    workdir = root / arguments("WORKDIR")[-1].lstrip("/")
    workdir.mkdir(parents=True)
    process_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        **{k: v for k, v in image_env.items() if k not in ("PATH", "VIRTUAL_ENV")},
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv}/bin:{os.environ['PATH']}",
        "HOME": str(root / "root"),
    }
    rehearsed = RehearsedImage(root, workdir, venv / "bin" / "python", process_env)
    uv_env = {
        **process_env,
        "UV_PROJECT_ENVIRONMENT": str(venv),
        "UV_PYTHON": str(BASE_PYTHON),
        "UV_LINK_MODE": "hardlink",
        "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv")),
    }
    for keyword, rest in final_stage():
        if keyword == "COPY" and not rest.startswith("--from"):
            rehearse_copy(rest, context, workdir)
        elif keyword == "RUN":
            rehearse_run(rest, rehearsed, uv, uv_env)
    return rehearsed


@pytest.mark.e2e
def test_image_holds_the_code_and_nothing_else(image):
    # The project's editable install writes its egg-info there, as it does in the image.
    top = {p.name for p in image.workdir.iterdir() if not p.name.endswith(".egg-info")}
    assert top == {"pyproject.toml", "uv.lock", "README.md", *(c.rstrip("/") for c in CODE)}
    leaked = [p for p in image.workdir.rglob("*") if "__pycache__" in p.parts or p.suffix == ".pem"]
    assert not leaked


@pytest.mark.e2e
def test_image_has_the_locked_packages(image):
    probe = "import sys, importlib.metadata as m; print(sys.version.split()[0]); " + "; ".join(
        f"print(m.version({name!r}))" for name in LOCKED_PACKAGES
    )
    result = image.run("-c", probe)
    assert result.returncode == 0, result.stderr[-2000:]
    python, *versions = result.stdout.split()
    assert python == (REPO / ".python-version").read_text().split()[0]
    assert versions == [locked_version(name) for name in LOCKED_PACKAGES]


@pytest.mark.e2e
def test_image_runs_the_kubeflow_entry_point_with_the_keras_mode(image):
    entry = image.run(
        "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor", "-h"
    )
    assert entry.returncode == 0, entry.stderr[-2000:]
    assert "--executor_class_path" in entry.stdout
    probe = image.run("-c", "import os, tf_keras, tensorflow as tf; print(tf.keras.__name__)")
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split()[-1].startswith("tf_keras")


@pytest.mark.e2e
def test_image_compiles_the_shipped_kubeflow_config(image, tmp_path):
    result = image.run(
        "runner.py",
        "--kubeflow",
        "--config",
        "configs/kubeflow.yaml",
        "--output",
        str(tmp_path / "p.yaml"),
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    spec, platform = yaml.safe_load_all((tmp_path / "p.yaml").read_text())
    assert spec["deploymentSpec"]["executors"] and platform["platforms"]["kubernetes"]
