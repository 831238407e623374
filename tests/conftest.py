"""Test-wide setup: the one Keras mode, the ``slow`` marker, and the xdist work units.

Under pytest-xdist (``-n 2 --dist loadgroup``, as ``make test`` runs) every test belongs to
one xdist group, and a group runs whole on one worker: the tests of a real pipeline run that
``tests/e2e/conftest.py`` shares form one group (so the run happens once), every other module
is its own group (so its module-scoped fixtures are built once). Groups are handed out in
collection order, the shared penguins history first: it is the longest, and the other worker
works through the rest meanwhile.
"""

import os

import pytest

from components import keras_mode

os.environ.update(keras_mode.ENVIRONMENT)

# Session fixture in tests/e2e/conftest.py -> the xdist group of every test that uses it.
SHARED_RUNS = {
    "penguins_history": "penguins-history",
    "out_of_domain_run": "penguins-out-of-domain",
}
# Fixtures that add runs to the penguins history, in the order their tests must run: each
# test that uses one runs after every test that only reads the history's first two runs.
HISTORY_WRITERS = ("shifted_runs", "impossible_run", "reevaluated_run")


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers it too; the orchestrators' environments run without xdist.
    config.addinivalue_line("markers", "xdist_group(name): tests that run on one xdist worker")
    config.addinivalue_line(
        "markers",
        "slow: a whole-pipeline rehearsal of minutes (part of `make test`; -m 'not slow' skips)",
    )


def pytest_itemcollected(item: pytest.Item) -> None:
    """Puts ``item`` in its xdist group: its shared run's, else its module's."""
    if item.get_closest_marker("xdist_group"):
        return
    names = getattr(item, "fixturenames", ())
    shared = [group for fixture, group in SHARED_RUNS.items() if fixture in names]
    group = shared[0] if shared else item.nodeid.split("::")[0]
    item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The penguins history's readers first, then its writers in order, then the rest."""

    def rank(item: pytest.Item) -> tuple[int, int]:
        names = getattr(item, "fixturenames", ())
        if "penguins_history" not in names:
            return (1, 0)
        return (0, max((i + 1 for i, f in enumerate(HISTORY_WRITERS) if f in names), default=0))

    items.sort(key=rank)
