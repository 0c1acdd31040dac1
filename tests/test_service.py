"""The service's parts outside the scheduler: supervised worker processes, `publisher serve`
under SIGTERM, and the related index kept in memory across gathers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from publisher.app import open_app
from publisher.pipeline import gather_and_publish, related_engine
from publisher.service.workers import WorkerPool
from publisher.settings import settings_from_dict
from tests.conftest import ROOT, base_settings
from tests.test_web import fresh_article

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)",
]


def wait_for(condition: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_that_dies_is_started_again_and_all_stop_on_request() -> None:
    pool = WorkerPool(SLEEPER, 2, stop_timeout=10)
    pool.start()
    try:
        first = wait_for(lambda: pool.pids if len(pool.pids) == 2 else None)
        os.kill(first[0], signal.SIGKILL)
        again = wait_for(
            lambda: pool.pids if first[0] not in pool.pids and len(pool.pids) == 2 else None
        )
        assert first[1] in again
    finally:
        pool.stop()
    assert not any(alive(pid) for pid in again)
    assert pool.pids == []


def test_a_worker_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    pool = WorkerPool(STUBBORN, 1, stop_timeout=1)
    pool.start()
    [pid] = wait_for(lambda: pool.pids)
    time.sleep(0.5)  # let it install its handler
    started = time.monotonic()
    pool.stop()
    assert time.monotonic() - started < 5
    assert not alive(pid)


def test_serve_answers_and_stops_on_sigterm(project: Path) -> None:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "serve-test-secret-0123456789"}
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher", "--config", "settings.toml", "serve", "--port", "0"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "(web only) is running: open http://127.0.0.1:" in line, line
        address = line.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(f"{address}healthz", timeout=10) as answer:
            assert answer.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    errors = process.stderr.read()
    assert "Traceback" not in errors and "stopped" in errors


def test_the_related_index_in_memory_follows_gathers_and_readers_keep_their_copy(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "content" / "opinion", tmp_path / "content" / "opinion")
    app = open_app(settings_from_dict(base_settings(), base_dir=tmp_path))
    try:
        live = app.keep_related_in_memory()
        gather_and_publish(app)
        before = related_engine(app)
        size = before.index.size
        fresh_article(tmp_path / "content" / "opinion", "late-column", "A late column")
        gather_and_publish(app)
        after = related_engine(app)
        assert after.index.size == size + 1 and "opinion/late-column" in after.index.ids
        assert before.index.size == size  # a reader in the middle of a digest is undisturbed
        assert live.refresh() is after.index  # nothing new: no copy made
    finally:
        app.close()


def test_threads_finding_the_index_stale_refresh_it_once(tmp_path: Path, monkeypatch: Any) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import publisher.related.index as index_module

    shutil.copytree(ROOT / "content" / "opinion", tmp_path / "content" / "opinion")
    app = open_app(settings_from_dict(base_settings(), base_dir=tmp_path))
    try:
        gather_and_publish(app)
        live = app.keep_related_in_memory()
        live.engine()
        live.stale_after = 60.0
        live._refreshed -= 120  # a minute past stale
        calls = []
        real = index_module.updated_copy

        def counted(*args: Any) -> Any:
            calls.append(1)
            time.sleep(0.2)  # the others queue on the lock meanwhile
            return real(*args)

        monkeypatch.setattr(index_module, "updated_copy", counted)
        start = threading.Barrier(8)

        def read() -> None:
            start.wait()
            live.engine()

        with ThreadPoolExecutor(8) as pool:
            for each in [pool.submit(read) for _ in range(8)]:
                each.result()  # an error in any reader fails the test
        assert len(calls) == 1
    finally:
        app.close()
