"""os_errors: real filesystem errors (that stop root too) as one line naming what is wrong."""

import pytest

from pipeline import os_errors


def test_a_path_under_a_regular_file_names_the_file(tmp_path):
    blocker = tmp_path / "work"
    blocker.write_text("not a directory")
    with pytest.raises(NotADirectoryError) as caught:
        (blocker / "runs" / "1").mkdir(parents=True)

    line = os_errors.describe(caught.value)
    assert line == (
        f"{blocker / 'runs' / '1'}: Not a directory ({blocker} is a regular file, not a directory)"
    )


def test_a_regular_file_where_a_directory_is_created(tmp_path):
    blocker = tmp_path / "work"
    blocker.write_text("")
    with pytest.raises(FileExistsError) as caught:
        blocker.mkdir()

    assert os_errors.describe(caught.value) == (
        f"{blocker}: File exists ({blocker} is a regular file, not a directory)"
    )


def test_a_directory_where_a_file_is_read(tmp_path):
    with pytest.raises(IsADirectoryError) as caught:
        tmp_path.read_text()
    assert os_errors.describe(caught.value) == f"{tmp_path}: Is a directory"


def test_check_directory(tmp_path):
    os_errors.check_directory(tmp_path / "missing" / "deeper")  # nothing there yet: fine
    os_errors.check_directory(tmp_path)
    (tmp_path / "file").write_text("")
    for path in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(NotADirectoryError) as caught:
            os_errors.check_directory(path)
        assert caught.value.filename == str(path)
        assert "is a regular file" in os_errors.describe(caught.value)


def test_check_file(tmp_path):
    os_errors.check_file(tmp_path / "absent.sqlite")
    with pytest.raises(IsADirectoryError):
        os_errors.check_file(tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        os_errors.check_file(tmp_path / "file" / "metadata.sqlite")


def test_check_listable(tmp_path):
    (tmp_path / "penguins" / "1").mkdir(parents=True)
    (tmp_path / "models.config").write_text("")
    os_errors.check_listable(tmp_path)
    with pytest.raises(NotADirectoryError):
        os_errors.check_listable(tmp_path / "models.config")
