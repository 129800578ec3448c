"""Fixtures shared by the test folders, and the hooks that mark each test by its folder.

Each folder of tests/ is one suite (tests/support/suites.py): the unit folders run in-process only and make
`make test-fast` (`pytest -m unit`); services, process, cluster, browser and training run real programs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from realtime.collect.store import database_url
from tests.support.models import MODEL, FakeModel
from tests.support.postgres import PostgresProcess
from tests.support.servers import ServerLauncher
from tests.support.suites import FOLDERS, KINDS, UNIT, unit_boundary

pytest_plugins = ["pytester", "tests.support.quickdraw_sample"]
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def suite(path: Path) -> str:
    """Return the marker of the folder a test file is in; refuse a file outside the known folders."""
    folder = path.relative_to(TESTS).parts[0]
    if folder not in FOLDERS:
        raise pytest.UsageError(
            f"{path.relative_to(ROOT)}: tests/{folder} is not a known test folder; put the test in one of "
            f"{', '.join(sorted(FOLDERS))} (or add the folder to tests/support/suites.py)"
        )
    return FOLDERS[folder]


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m KIND` alone (`make test-fast` is `-m unit`), do not even import the other folders."""
    wanted = config.getoption("markexpr")
    if wanted in KINDS and collection_path.parent == TESTS and collection_path.name in FOLDERS:
        return FOLDERS[collection_path.name] != wanted or None
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by its folder: unit, services, process, cluster, browser or training."""
    for item in items:
        item.add_marker(suite(item.path))


def boundary(item: pytest.Item) -> AbstractContextManager[None]:
    """While a unit test is set up and run, starting a process or training fails it; others run as they are.

    Not around teardowns: a slow suite's module and session fixtures (a PostgreSQL, say) are stopped in the
    teardown of whichever test comes after them, which may be a unit test.
    """
    return unit_boundary(item.nodeid) if suite(item.path) == UNIT else nullcontext()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """Set a unit test's fixtures up within its boundary."""
    with boundary(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Run a unit test within its boundary."""
    with boundary(item):
        return (yield)


@pytest.fixture
def model() -> FakeModel:
    """Return a fresh stand-in model."""
    return FakeModel()


@pytest.fixture(scope="module")
def output(request: pytest.FixtureRequest) -> Path:
    """The test module's folder for screenshots and logs (its OUTPUT), emptied first."""
    folder: Path = request.module.OUTPUT
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def real_model() -> Path:
    """Return the shipped default model's folder; fail (not skip) when it has not been trained yet."""
    if not (MODEL / "model.tflite").is_file():
        pytest.fail(f"{MODEL.relative_to(ROOT)}/model.tflite is missing: train it with `python -m trainer`")
    return MODEL


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerLauncher]:
    """Start `python -m realtime` servers on free 127.0.0.1 ports; all of them are stopped afterwards."""
    launcher = ServerLauncher(tmp_path)
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerLauncher]:
    """Like `start_server`, for servers shared by the tests of one module."""
    launcher = ServerLauncher(tmp_path_factory.mktemp("servers"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresProcess]:
    """A throw-away PostgreSQL for the session (in a folder the `postgres` user can reach)."""
    folder = Path(tempfile.mkdtemp(prefix="collect-pg-"))
    server = PostgresProcess(folder)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, as DATABASE_URL would name it."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'drawings.sqlite3'}"
    server: PostgresProcess = request.getfixturevalue("postgres")
    engine = create_engine(database_url(server.url))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS drawings, taught_words, alembic_version"))
    engine.dispose()
    return server.url.replace("postgresql://", "postgres://")  # as Heroku's add-on writes it
