"""Fixtures for the rasa_sdk action tests, in the style of RasaHQ/financial-demo.

Each test builds a `rasa_sdk.Tracker` from a tracker JSON in fixtures/, runs one action with a
`CollectingDispatcher`, and checks the messages it dispatched and the events it returned.

The backend is not faked: the real bot (FastAPI, app venv) is started once per session on a free
port, and the actions talk to its /api/v1/dialogue endpoints. `actions.backend` reads BACKEND_URL
when it is imported, so the `actions` fixture sets it first and only then imports (or re-imports)
the action modules.

These tests run in the Rasa venv (Python 3.10):
    .venv-rasa/bin/python -m pytest tests/actions -q -p no:cacheprovider
The app venv has no rasa_sdk; when its `pytest` walks tests/, this directory is left out.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
APP_PYTHON = ROOT / ".venv" / "bin" / "python"
ACTION_MODULES = (
    "actions.backend", "actions.common", "actions.guide_actions", "actions.reply_actions", "actions.complaint_actions",
    "actions.policy_actions",
)
ENTERPRISE_TEST_CODE = "246810"  # the test verifier's code in the session's bot (it runs in another process)
CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens there

HAVE_RASA_SDK = importlib.util.find_spec("rasa_sdk") is not None
if not HAVE_RASA_SDK:  # the app venv: these tests belong to the Rasa venv
    collect_ignore_glob = ["test_*.py"]
else:
    import pytest_asyncio
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher


# --- pytest configuration ----------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # The root pyproject's `timeout = 600` is for pytest-timeout in the app venv. The Rasa venv has no
    # pytest-timeout, so declare the key here: otherwise it is an unknown ini key (a warning, and an
    # error under --strict-config).
    if not pluginmanager.has_plugin("timeout"):
        parser.addini("timeout", "pytest-timeout's per-test timeout; not installed here, so ignored")


def pytest_configure(config: pytest.Config) -> None:
    if HAVE_RASA_SDK and not config.pluginmanager.has_plugin("asyncio"):
        raise pytest.UsageError("tests/actions need pytest-asyncio (pip install 'pytest-asyncio>=0.24')")


# Every async test and fixture here runs on ONE session-wide event loop, whatever asyncio_mode the ini
# file sets: the action modules share one module-level BackendClient, whose aiohttp session belongs to
# the loop it was first used on (as in the action server, which runs a single loop).
# Test modules say so with: pytestmark = pytest.mark.asyncio(loop_scope="session")


# --- the real backend ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def backend_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bot's own throw-away SQLite database (notices, complaint tickets), not the developer's var/."""
    return f"sqlite:///{tmp_path_factory.mktemp('actions-db') / 'actions.db'}"


@pytest.fixture(scope="session")
def backend_url(backend_database: str) -> Iterator[str]:
    """Start the real bot with the app venv; Rasa itself is not needed for the dialogue endpoints."""
    if not APP_PYTHON.exists():
        pytest.fail(f"app venv missing ({APP_PYTHON}): run `make venv`")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="actions-backend-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        # The launcher's keep-alive (30 s): the action client drops idle connections after 10 s, so with
        # uvicorn's default 5 s a pooled connection could be closed under it (a Broken pipe on the next call).
        [str(APP_PYTHON), "-m", "uvicorn", "bot.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--timeout-keep-alive", "30"],
        cwd=ROOT,
        env={**os.environ, "RASA_URL": CLOSED_PORT_URL, "DATABASE_URL": backend_database,
             "ENTERPRISE_VERIFIER": "test", "ENTERPRISE_TEST_CODE": ENTERPRISE_TEST_CODE},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _healthy(url):
            if process.poll() is not None:
                pytest.fail(f"the bot exited with {process.returncode}:\n{Path(log.name).read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"the bot did not answer GET /healthz in 30 s:\n{Path(log.name).read_text(errors='replace')}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        os.unlink(log.name)


if HAVE_RASA_SDK:

    @pytest_asyncio.fixture(scope="session", loop_scope="session")
    async def actions(backend_url: str) -> AsyncIterator[SimpleNamespace]:
        """The action modules, imported with BACKEND_URL pointing at the session's bot."""
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("BACKEND_URL", backend_url)
            mp.syspath_prepend(str(ROOT))
            modules = {}
            for name in ACTION_MODULES:  # in dependency order, so re-imports see each other's new objects
                modules[name] = importlib.reload(sys.modules[name]) if name in sys.modules else importlib.import_module(name)
            ns = SimpleNamespace(**{name.rsplit(".", 1)[1]: module for name, module in modules.items()})
            assert backend_url == ns.backend.BACKEND_URL  # read from the environment at import
            assert ns.backend.backend.base_url == backend_url
            assert ns.guide_actions.backend is ns.backend.backend
            assert ns.reply_actions.backend is ns.backend.backend
            assert ns.complaint_actions.backend is ns.backend.backend
            assert ns.policy_actions.backend is ns.backend.backend
            yield ns
            session = ns.backend.backend._session  # no public close(): see the report
            if session is not None and not session.closed:
                await session.close()

    @pytest.fixture
    def dispatcher() -> CollectingDispatcher:
        return CollectingDispatcher()

    @pytest.fixture
    def tracker() -> Callable[[str], Tracker]:
        """tracker("identify_newborn") -> a fresh Tracker from fixtures/identify_newborn.json."""

        def load(name: str) -> Tracker:
            return Tracker.from_dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))

        return load


@pytest.fixture(scope="session")
def enterprise_code() -> str:
    """The code the session's bot verifies every enterprise binding with (its test verifier)."""
    return ENTERPRISE_TEST_CODE


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "dialogues" / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def replies() -> dict[str, str]:
    """The reply wording staff may edit (guides/templates/replies.yml)."""
    return yaml.safe_load((ROOT / "guides" / "templates" / "replies.yml").read_text(encoding="utf-8"))["replies"]


@pytest.fixture(scope="session")
def newborn() -> dict[str, Any]:
    """The newborn guide as written in guides/newborn.yml: the source of the expected item ids."""
    return yaml.safe_load((ROOT / "guides" / "newborn.yml").read_text(encoding="utf-8"))
