"""The benchmark harness: results, the scenario registry, the stack (database,
gunicorn, RQ workers) and bounded load loops.

A scenario is one module of ``bench/scenarios/`` named in ``SCENARIOS`` there;
it defines ``run(ctx: Context) -> list[Result]``. ``not_measured(name, reason)``
is the honest answer of a scenario whose feature does not exist yet: ``ok`` is
``None`` and the summary shows it as not measured, never as passing.

Every request loop is bounded in count and in time (``Bounds``) and every URL
is checked to point at 127.0.0.1 before a request is sent.
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- results


@dataclass
class Result:
    """One measurement. ``ok`` is True/False against ``target`` (how it is
    compared is said by ``unit`` and ``note``), None when not measured."""

    name: str
    value: float | int | None
    unit: str
    target: float | int | None
    ceiling: float | int | None = None
    ratio: float | None = None
    ok: bool | None = None
    note: str | None = None
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if k not in ("note", "reason") or v is not None}


def at_most(name: str, value: float, unit: str, target: float, **kw: Any) -> Result:
    return Result(name, value, unit, target, ok=value <= target, **kw)


def at_least(name: str, value: float, unit: str, target: float, **kw: Any) -> Result:
    return Result(name, value, unit, target, ok=value >= target, **kw)


def not_measured(name: str, reason: str, unit: str = "", target: float | None = None) -> Result:
    return Result(name, None, unit, target, ok=None, reason=reason)


def percentile(values: Iterable[float], p: float) -> float:
    data = sorted(values)
    if not data:
        return float("nan")
    if len(data) == 1:
        return data[0]
    return statistics.quantiles(data, n=1000, method="inclusive")[min(998, max(0, round(p * 10) - 1))]


# --------------------------------------------------------------------------- bounds


@dataclass(frozen=True)
class Bounds:
    """The most requests (or operations) a loop may make and the longest it may run."""

    count: int
    seconds: float

    def deadline(self) -> float:
        return time.monotonic() + self.seconds


class BoundExceeded(RuntimeError):
    pass


class Budget:
    """A thread-safe counter a loop draws from; refuses once the count or the time is spent."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.deadline = bounds.deadline()
        self.used = 0
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            if self.used >= self.bounds.count:
                raise BoundExceeded(f"more than {self.bounds.count} operations")
            if time.monotonic() > self.deadline:
                raise BoundExceeded(f"more than {self.bounds.seconds} s")
            self.used += 1


def require_loopback(url: str) -> str:
    host = urlparse(url).hostname
    if host != LOOPBACK:
        raise ValueError(f"the bench only talks to {LOOPBACK}, not {host!r}")
    return url


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        load = [round(x, 1) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cores": os.cpu_count(), "cpu": model or "unknown", "memory_gb": memory, "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}", "load": load}


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_http(url: str, seconds: float = 60.0, process: subprocess.Popen | None = None) -> None:
    import requests

    require_loopback(url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering {url}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


@dataclass
class Server:
    """A gunicorn (or RQ worker) process started by the bench; stopped by its pid."""

    process: subprocess.Popen
    url: str | None
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def gunicorn_workers() -> int:
    """As in production (README): 4 sync workers; fewer on a single core."""
    return int(os.environ.get("BENCH_GUNICORN_WORKERS", "4" if (os.cpu_count() or 1) >= 2 else "2"))


ACCESS_FORMAT = "%(m)s %(U)s?%(q)s %(s)s %(D)s"


def access_log(log: Path) -> Path:
    return log.with_name(log.stem + "-access.log")


def server_times(log: Path, marker: str) -> dict[str, float]:
    """Server-side seconds of the requests whose query string holds ``marker=<tag>``, by tag,
    read from the gunicorn access log of the server logging to ``log``."""
    out: dict[str, float] = {}
    path = access_log(log)
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[3].isdigit():
            continue
        for pair in parts[1].partition("?")[2].split("&"):
            key, _eq, value = pair.partition("=")
            if key == marker:
                out[value] = int(parts[3]) / 1_000_000
    return out


def worker_pids(master: int) -> list[int]:
    """The pids of the children of ``master`` (gunicorn's workers), from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == master:
            pids.append(int(entry.name))
    return sorted(pids)


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of ``pid`` in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def rss_kib(pid: int, field: str = "VmRSS") -> int | None:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of ``pid``, KiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS (Linux ≥ 4.0, own processes); False when refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """Samples the RSS of a gunicorn master's workers every ``interval`` seconds in a
    thread, and reads their kernel peak (``VmHWM``, reset at start when allowed):
    ``serving()`` is the worker that used the most CPU meanwhile (the one that served)."""

    def __init__(self, master: int, interval: float = 0.02) -> None:
        self.pids = worker_pids(master)
        self.interval = interval
        self.baseline = {pid: rss_kib(pid) or 0 for pid in self.pids}
        self.peak = dict(self.baseline)
        self.hwm_reset = {pid: reset_peak_rss(pid) for pid in self.pids}
        self.cpu = {pid: cpu_ticks(pid) for pid in self.pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], rss_kib(pid) or 0)
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        for pid in self.pids:
            self.peak[pid] = max(self.peak[pid], rss_kib(pid) or 0)
            if self.hwm_reset[pid]:
                self.peak[pid] = max(self.peak[pid], rss_kib(pid, "VmHWM") or 0)
        self.cpu = {pid: cpu_ticks(pid) - before for pid, before in self.cpu.items()}

    def serving(self) -> int:
        return max(self.pids, key=lambda pid: self.cpu[pid])


def start_gunicorn(app_spec: str, env: dict[str, str], log: Path, probe: str = "/") -> Server:
    port = free_port()
    # The access log gives each request's server-side duration (``%(D)s``, microseconds): see ``server_times``.
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(gunicorn_workers()), "--bind", f"{LOOPBACK}:{port}",
           "--backlog", "2048", "--timeout", "60", "--log-level", "warning",
           "--access-logfile", str(access_log(log)), "--access-logformat", ACCESS_FORMAT, app_spec]
    handle = log.open("wb")
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://{LOOPBACK}:{port}"
    try:
        wait_http(url + probe, process=process)
    except Exception:
        Server(process, url, log).stop()
        raise
    return Server(process, url, log)


def start_rq_worker(env: dict[str, str], log: Path) -> Server:
    handle = log.open("wb")
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=env,
                               stdout=handle, stderr=subprocess.STDOUT)
    return Server(process, None, log)


# --------------------------------------------------------------------------- context


@dataclass
class Context:
    """What a scenario gets: the database URL, the environment of the app's
    processes, a Flask app bound to the bench database (direct DB work), the
    stack started lazily (gunicorn for Guichet and for the ceiling app, RQ
    workers), a scratch directory, and the sizes (``small`` for smoke runs)."""

    database_url: str
    redis_url: str | None
    env: dict[str, str]
    workdir: Path
    small: bool = False
    rq_workers: int = 1
    _app: Any = None
    _servers: dict[str, Server] = field(default_factory=dict)
    _workers: list[Server] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def app(self):
        if self._app is None:
            from app import create_app

            self._app = create_app(env=self.env)
        return self._app

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    def guichet_url(self) -> str:
        if "guichet" not in self._servers:
            self._servers["guichet"] = start_gunicorn("wsgi:app", self.env, self.workdir / "gunicorn-guichet.log",
                                                      probe="/api/v1/openapi.json")
        return self._servers["guichet"].url  # type: ignore[return-value]

    def server_pid(self, name: str = "guichet") -> int:
        """The pid of a started server's gunicorn master (its workers are its children)."""
        return self._servers[name].process.pid

    def server_log(self, name: str = "guichet") -> Path:
        return self._servers[name].log

    def ceiling_url(self) -> str:
        if "ceiling" not in self._servers:
            self._servers["ceiling"] = start_gunicorn("bench.ceiling_app:app", self.env,
                                                      self.workdir / "gunicorn-ceiling.log", probe="/health")
        return self._servers["ceiling"].url  # type: ignore[return-value]

    def ensure_rq_workers(self) -> None:
        if self.redis_url and not self._workers:
            for i in range(self.rq_workers):
                self._workers.append(start_rq_worker(self.env, self.workdir / f"rq-worker-{i}.log"))

    @property
    def has_rq_workers(self) -> bool:
        return bool(self._workers)

    def wait_jobs_done(self, seconds: float) -> bool:
        """Wait (bounded) until the RQ queues are empty and no job is running."""
        if not self.redis_url:
            return True
        from redis import Redis
        from rq import Queue
        from rq.registry import StartedJobRegistry

        from app.jobs import QUEUES

        conn = Redis.from_url(self.redis_url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            busy = 0
            for name in QUEUES:
                queue = Queue(name, connection=conn)
                busy += len(queue) + len(StartedJobRegistry(queue=queue))
            if busy == 0:
                return True
            time.sleep(0.5)
        return False

    def close(self) -> None:
        for server in [*self._servers.values(), *self._workers]:
            server.stop()
        self._servers.clear()
        self._workers.clear()


def staff_password(app: Any, email: str) -> str:
    """Give the demo account ``email`` a fresh random password in the database of
    ``app`` (production refuses the demo password) and return it."""
    import secrets

    from sqlalchemy import select

    from app.extensions import db
    from app.models import User

    password = secrets.token_urlsafe(18)
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == email)).scalar_one()
        user.set_password(password)
        db.session.commit()
    return password


def web_login(base: str, email: str, password: str):
    """A ``requests`` session logged in through the real form (CSRF token included).
    The app runs as in production, so its cookies are ``Secure``: the session
    clears that flag after each response so that they go back over plain HTTP
    (within a redirect chain they would not: ask with ``allow_redirects=False``).
    Safe only because every URL is checked to be 127.0.0.1."""
    import re

    import requests

    class LoopbackSession(requests.Session):
        def request(self, *args: Any, **kwargs: Any):
            response = super().request(*args, **kwargs)
            for cookie in self.cookies:
                cookie.secure = False
            return response

    http = LoopbackSession()
    page = http.get(require_loopback(base + "/connexion"), timeout=30)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page.text)
    if match is None:
        raise RuntimeError(f"no CSRF token on the login page (HTTP {page.status_code})")
    response = http.post(require_loopback(base + "/connexion"), allow_redirects=False, timeout=30,
                         data={"email": email, "password": password, "csrf_token": match.group(1)})
    if response.status_code != 302:
        raise RuntimeError(f"login of {email} failed: HTTP {response.status_code}")
    return http


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="guichet-bench-"))


def run_threads(n: int, target: Callable[[int], Any], join_seconds: float) -> list[Any]:
    """Run ``target(i)`` in ``n`` threads; results (or the exception raised), in order."""
    results: list[Any] = [None] * n

    def body(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the scenario
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + join_seconds
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    for i, t in enumerate(threads):
        if t.is_alive():
            results[i] = BoundExceeded(f"thread {i} still running after {join_seconds} s")
    return results
