"""Real penguins runs that more than one e2e module reads, each made once per session.

``penguins_history``: one work directory whose first two runs are two ``runner.py --local``
processes started together on the shipped data. One takes the work dir's lock, trains and
pushes version 1; the other waits for the lock, then finds every component cached: the
cold run, the unchanged re-run and the concurrent start that ``test_local_pipeline`` and
``test_report`` check, for the price of one cold run. Later runs in that directory (a
shifted CSV, an impossible threshold, a looser change threshold) add to its history; the
tests that make them run after every test that reads only the first two runs (see
``HISTORY_WRITERS`` in ``tests/conftest.py``).

``out_of_domain_run``: the shipped CSV plus a row from an island the schema does not know,
which stops the run at the DataGate.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from penguins_runs import CSV, History, run_pipeline, start_two_runs, write_config


@pytest.fixture(scope="session")
def penguins_history(tmp_path_factory) -> History:
    return start_two_runs(tmp_path_factory.mktemp("penguins_history"))


@pytest.fixture(scope="session")
def out_of_domain_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess, dict]:
    """(config, process, summary) of a run on the shipped CSV plus one row from 'Atlantis'."""
    directory = tmp_path_factory.mktemp("out_of_domain")
    csv_dir = directory / "data"
    csv_dir.mkdir()
    shutil.copy(CSV, csv_dir / "penguins.csv")
    with (csv_dir / "penguins.csv").open("a") as f:
        f.write("Adelie,Atlantis,39.1,18.7,181,3750,male,2007\n")
    config = write_config(directory, csv_dir=csv_dir)
    return (config, *run_pipeline(config))
