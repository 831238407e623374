"""Every dotted path handed to TFX resolves to what TFX will call."""

import ast
import importlib
import inspect
import re
from pathlib import Path

import pytest
from tfx.dsl.compiler import compiler
from tfx.orchestration.local import runner_utils

from pipeline import pipeline
from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("dotted", "parameters"),
    [
        (pipeline.PREPROCESSING_FN, ["inputs", "custom_config"]),
        (pipeline.RUN_FN, ["fn_args"]),
        (pipeline.TUNER_FN, ["fn_args"]),
    ],
)
def test_user_function_resolves(dotted, parameters):
    module, name = dotted.rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    assert list(inspect.signature(function).parameters) == parameters


def test_every_class_path_in_the_compiled_pipeline_imports(tmp_path):
    cfg = load_config(REPO / "configs" / "penguins.yaml", work_dir=tmp_path)
    ir = compiler.Compiler().compile(pipeline.create_pipeline(cfg))
    deployment = runner_utils.extract_local_deployment_config(ir)
    executors = [
        runner_utils.extract_executor_spec(deployment, node.pipeline_node.node_info.id)
        for node in ir.nodes
    ]
    text = str(ir) + "".join(str(e) for e in executors if e is not None)
    class_paths = set(re.findall(r'(?:class_path|op_type): "(\w+(?:\.\w+)+)"', text))
    assert "pipeline.baseline.LatestBlessedOtherModelStrategy" in class_paths
    assert "tfx.components.trainer.executor.GenericExecutor" in class_paths
    assert "components.csv_example_gen.executor.Executor" in class_paths
    for class_path in class_paths:
        module, name = class_path.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), class_path


PACKAGES = ("components", "pipeline", "serving", "monitoring")


def _module_file(dotted: str) -> Path | None:
    base = REPO.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_names(path: Path) -> set[str] | None:
    """Names a module defines at top level; None when it resolves names dynamically."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try)):
            names.update(
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
            names.update(
                (a.asname or a.name).split(".")[0]
                for n in ast.walk(node)
                if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names
            )
    return names


def _project_module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> project module, for ``from pkg import mod`` and ``import pkg.mod as m``."""
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                if dotted.split(".")[0] in PACKAGES and _module_file(dotted):
                    aliases[alias.asname or alias.name] = dotted
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name.split(".")[0] in PACKAGES:
                    aliases[alias.asname] = alias.name
    return aliases


def _sources() -> list[Path]:
    files = [REPO / "runner.py"]
    for package in (*PACKAGES, "dags", "benchmarks"):
        files += sorted((REPO / package).rglob("*.py"))
    return files


def test_every_attribute_read_from_a_project_module_is_defined_there():
    """``module.NAME`` on one of our modules names something that module defines: the
    mistake a rename leaves behind on a path only an end-to-end run would take."""
    missing = []
    for path in _sources():
        tree = ast.parse(path.read_text())
        aliases = _project_module_aliases(tree)
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                continue
            module = aliases[node.value.id]
            defined = _top_level_names(_module_file(module))
            submodule = _module_file(f"{module}.{node.attr}")
            if defined is not None and node.attr not in defined and submodule is None:
                missing.append(f"{path.relative_to(REPO)}:{node.lineno} {module}.{node.attr}")
    assert not missing, "undefined module attributes:\n" + "\n".join(missing)


def test_every_name_imported_from_a_project_module_is_defined_there():
    """``from pipeline.x import NAME``, at top level or inside a function (where only the
    code path that runs it would find a stale name)."""
    missing = []
    for path in [*_sources(), *sorted((REPO / "tests").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (
                isinstance(node, ast.ImportFrom)
                and node.level == 0
                and node.module
                and node.module.split(".")[0] in PACKAGES
            ):
                continue
            source = _module_file(node.module)
            defined = _top_level_names(source) if source else set()
            for alias in node.names:
                found = defined is None or alias.name in defined
                if not found and _module_file(f"{node.module}.{alias.name}") is None:
                    where = f"{path.relative_to(REPO)}:{node.lineno}"
                    missing.append(f"{where} from {node.module} import {alias.name}")
    assert not missing, "undefined imported names:\n" + "\n".join(missing)
