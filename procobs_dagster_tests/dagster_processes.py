"""Dagster's own processes for tests that need them (the webserver, the daemon, `make ui`):
each started in a process group of its own, so stopping it stops what it started too.

Without the tools a test needs it is skipped with the reason, except under CI=true, where
it must run.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Seconds a process has to stop on SIGINT (dagster dev stops its children first).
STOP_SECONDS = 30


def require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"under CI=true this test must run: {reason}", pytrace=False)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without any DAGSTER_* or PROCOBS_* variable of the caller's, plus
    ``settings``: a process sees only what the test gives it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "PROCOBS_"))}
    return env | settings


@contextlib.contextmanager
def started(
    command: Sequence[str | os.PathLike], *, cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen]:
    """``command`` running in a new session, its output in ``log``; on exit the whole group
    gets SIGINT, then SIGKILL if it has not stopped within STOP_SECONDS."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(part) for part in command],
            cwd=cwd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
        # Children the leader left behind (run workers, code servers) go with the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited:\n{tail(log)}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/server_info", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    pytest.fail(f"nothing answered at {url} within {timeout:.0f} s:\n{tail(log)}")


def graphql(url: str, query: str) -> dict:
    """The data of a GraphQL query to the webserver at ``url``, as the UI sends it."""
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert "errors" not in answer, answer["errors"]
    return answer["data"]
