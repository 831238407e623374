# The image every Kubeflow Pipelines step runs in (`runner.py --kubeflow` points the compiled spec
# at it), and, passed as --sdk_container_image, the image of Dataflow / portable Beam workers.
# UNTESTED as a build on the project's machines (no Docker engine there);
# tests/unit/test_dockerfile.py checks it statically.
#
#   docker build -t REGISTRY/penguins:VERSION .
#   docker push REGISTRY/penguins:VERSION

# Beam's worker boot binary, from the SDK image of the Beam version in uv.lock.
FROM apache/beam_python3.10_sdk:2.59.0 AS beam

# Python as in .python-version; Debian 12 (glibc 2.36), the platform the locked wheels load on.
FROM python:3.10.13-slim-bookworm

# TF_USE_LEGACY_KERAS: the one Keras mode of the whole DAG (components/keras_mode.py); set
# before any process in the container imports TensorFlow.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TF_USE_LEGACY_KERAS=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3.10 \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN pip install --no-cache-dir "uv==0.13.9"

WORKDIR /pipeline

# Dependencies first (a layer that changes only with the lock), then the code.
# The kubeflow group brings kfp-pipeline-spec, which TFX's container entry point imports.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --group kubeflow --no-install-project --compile-bytecode \
    && rm -rf /root/.cache/uv

COPY runner.py ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY serving/ serving/
COPY schemas/ schemas/
COPY configs/ configs/
COPY data/ data/
RUN uv sync --frozen --no-dev --group kubeflow \
    && rm -rf /root/.cache/uv \
    && python -c "import tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor, components.serving_pusher.component"

COPY --from=beam /opt/apache/beam /opt/apache/beam

# Dataflow and portable Beam runners start workers through Beam's boot binary; Kubeflow
# Pipelines replaces the entry point with the step's own command
# (python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...).
ENTRYPOINT ["/opt/apache/beam/boot"]
