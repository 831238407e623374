"""code_fingerprint: the digest follows every covered .py file and nothing else."""

from pathlib import Path

import pytest

from pipeline import code_fingerprint


@pytest.fixture
def tree(tmp_path) -> Path:
    """A small source tree: a package with a subpackage, a module, and compiled files."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("A = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("B = 2\n")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0compiled")
    (tmp_path / "pkg" / "notes.txt").write_text("not code\n")
    (tmp_path / "single.py").write_text("S = 3\n")
    return tmp_path


def test_python_files_walks_directories_and_takes_files_as_they_are(tree):
    found = code_fingerprint.python_files(tree, ("pkg", "single.py"))
    assert [p.relative_to(tree).as_posix() for p in found] == [
        "pkg/a.py",
        "pkg/sub/b.py",
        "single.py",
    ]


@pytest.mark.parametrize(
    "edit",
    [
        lambda root: (root / "pkg" / "sub" / "b.py").write_text("B = 3\n"),
        lambda root: (root / "pkg" / "c.py").write_text(""),
        lambda root: (root / "pkg" / "a.py").unlink(),
        lambda root: (root / "pkg" / "a.py").rename(root / "pkg" / "z.py"),
        lambda root: (root / "single.py").write_text("S = 4\n"),
    ],
    ids=["edited", "added", "removed", "renamed", "named file edited"],
)
def test_a_change_to_a_covered_file_changes_the_digest(tree, edit):
    before = code_fingerprint.digest(tree, ("pkg", "single.py"))
    edit(tree)
    assert code_fingerprint.digest(tree, ("pkg", "single.py")) != before


def test_compiled_files_other_files_and_uncovered_paths_do_not_count(tree):
    before = code_fingerprint.digest(tree, ("pkg",))
    (tree / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0recompiled")
    (tree / "pkg" / "notes.txt").write_text("edited\n")
    (tree / "single.py").write_text("S = 4\n")
    assert code_fingerprint.digest(tree, ("pkg",)) == before
