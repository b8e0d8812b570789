"""Start the whole system: Redis (if none answers), the Rasa server, the action server, the bot.

`make run` and the end-to-end tests use this same code, so the tests exercise the real processes
started the real way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import redis
import yaml

from bot.config import ROOT
from bot.training import BUILD, rasa_bin

log = logging.getLogger(__name__)


class LaunchError(RuntimeError):
    pass


def redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def ensure_redis(url: str) -> None:
    """Start a local redis-server when none answers, installing Debian's package if missing."""
    if redis_answers(url):
        return
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise LaunchError(f"Redis at {url} does not answer, and it is not local, so it cannot be started here")
    if shutil.which("redis-server") is None:
        log.warning("redis-server is missing; installing Debian's redis-server")
        apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
        subprocess.run([*apt, "update", "-qq"], check=False)
        result = subprocess.run([*apt, "install", "-y", "-qq", "redis-server"], check=False)
        if result.returncode != 0 or shutil.which("redis-server") is None:
            raise LaunchError("could not install redis-server; install it, or set REDIS_URL to a running Redis")
    port = str(parsed.port or 6379)
    subprocess.run(
        ["redis-server", "--port", port, "--bind", "127.0.0.1", "--daemonize", "yes", "--save", "", "--appendonly", "no"],
        check=True,
    )
    for _ in range(50):
        if redis_answers(url):
            return
        time.sleep(0.1)
    raise LaunchError(f"started redis-server but {url} still does not answer")


def free_port() -> int:
    """A port nothing listens on now, for tests, benchmarks and evaluations on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_endpoints(action_url: str, redis_url: str | None, key_prefix: str, target: Path) -> Path:
    """Fill endpoints.yml from the environment; without REDIS_URL drop to in-memory stores."""
    values = {
        "ACTION_ENDPOINT_URL": action_url,
        "REDIS_HOST": "localhost", "REDIS_PORT": "6379", "REDIS_DB": "0", "REDIS_PASSWORD": "",
        "REDIS_KEY_PREFIX": key_prefix,
        "TRACKER_RECORD_EXPIRY_SECONDS": os.environ.get("TRACKER_RECORD_EXPIRY_SECONDS", str(30 * 24 * 3600)),
    }
    if redis_url:
        parsed = urlparse(redis_url)
        values.update(
            REDIS_HOST=parsed.hostname or "localhost",
            REDIS_PORT=str(parsed.port or 6379),
            REDIS_DB=(parsed.path or "/0").lstrip("/") or "0",
            REDIS_PASSWORD=parsed.password or "",
        )
    text = (ROOT / "endpoints.yml").read_text(encoding="utf-8")
    text = re.sub(r"\$\{(\w+)\}", lambda mt: values[mt.group(1)], text)
    config = yaml.safe_load(text)
    if not redis_url:
        config.pop("tracker_store", None)
        config.pop("lock_store", None)
    else:
        for store in ("tracker_store", "lock_store"):
            if not config[store].get("password"):
                config[store].pop("password")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return target


@dataclass
class Stack:
    """The three processes of one deployment, on the given ports."""

    model: Path
    bot_port: int = 8000
    rasa_port: int = 5005
    action_port: int = 5055
    redis_url: str | None = None
    key_prefix: str = "yishiban"
    log_dir: Path = ROOT / "var" / "log"
    env: dict[str, str] = field(default_factory=dict)
    enable_rasa_api: bool = False
    with_worker: bool = False  # the arq worker (scheduled sweeps); needs Redis
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.bot_port}"

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}/webhook"

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        logfile = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child's lifetime
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=logfile, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 240.0, only_rasa: bool = False) -> None:
        """Start the processes and wait until each answers; `only_rasa` for parse-only uses."""
        if not rasa_bin().exists():
            raise LaunchError(f"Rasa is not installed at {rasa_bin()}; run `make venv-rasa`")
        endpoints = write_endpoints(
            self.action_url, self.redis_url, self.key_prefix, BUILD / f"endpoints-{self.rasa_port}.yml"
        )
        common = {"PYTHONUNBUFFERED": "1", **self.env}
        if not only_rasa:
            self._spawn("actions", [str(rasa_bin()), "run", "actions", "--actions", "actions",
                                    "--port", str(self.action_port)],
                        {**common, "BACKEND_URL": self.bot_url})
        rasa_cmd = [str(rasa_bin()), "run", "--model", str(self.model), "--endpoints", str(endpoints),
                    "--credentials", "credentials.yml", "--port", str(self.rasa_port), "-i", "127.0.0.1"]
        if self.enable_rasa_api:
            rasa_cmd.append("--enable-api")
        self._spawn("rasa", rasa_cmd, common)
        if only_rasa:
            self.wait(timeout)
            return
        self._spawn("bot", self._bot_command(self.bot_port), self._bot_env(self.bot_port))
        if self.with_worker and self.redis_url:
            self._spawn("worker", [sys.executable, "-m", "bot", "worker"], self._bot_env(self.bot_port))
        self.wait(timeout)

    def start_bot(self, name: str, port: int, env: dict[str, str], timeout: float = 60.0) -> str:
        """One more bot process beside the stack's (another replica, or one with other settings)."""
        self._spawn(name, self._bot_command(port), {**self._bot_env(port), **env})
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            if self.processes[name].poll() is not None:
                raise LaunchError(f"{name} exited with {self.processes[name].returncode}; see {self.log_dir / (name + '.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    return url
            if time.monotonic() > deadline:
                raise LaunchError(f"{name} not ready after {timeout:.0f}s")
            time.sleep(0.3)

    def _bot_env(self, port: int) -> dict[str, str]:
        return {"PYTHONUNBUFFERED": "1", **self.env, "RASA_URL": self.rasa_url, "BOT_PORT": str(port),
                "REDIS_KEY_PREFIX": self.key_prefix, **({"REDIS_URL": self.redis_url} if self.redis_url else {})}

    @staticmethod
    def _bot_command(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "bot.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
                "--no-access-log",
                # Longer than the action server's idle connections live (see actions/backend.py),
                # so the bot never closes a connection the client is about to reuse.
                "--timeout-keep-alive", "30"]

    def wait(self, timeout: float) -> None:
        checks = {
            "bot": f"{self.bot_url}/healthz",
            "actions": f"http://127.0.0.1:{self.action_port}/health",
            "rasa": f"{self.rasa_url}/webhooks/rest/",
        }
        deadline = time.monotonic() + timeout
        pending = {name: url for name, url in checks.items() if name in self.processes}
        while pending:
            for name, url in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    self.stop()
                    raise LaunchError(f"{name} exited with {process.returncode}; see {self.log_dir / (name + '.log')}")
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                self.stop()
                raise LaunchError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
            if pending:
                time.sleep(0.5)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes.clear()
