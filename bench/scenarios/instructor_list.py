"""instructor_list: the instructors' workspace (``/instruction/espace/``) at
100,000 files: the first page with two filters and a sort, p95 under 150 ms
server-side; SQL statements per page constant in the number of files.

Latency: the demo instructor (an instructor of every call: the whole 100,000
files are in scope) gets a fresh password in the bench database (production
refuses the demo one) and logs in through the real form on the gunicorn
server (``ctx.guichet_url()``). The list needs no conflict declaration — only
opening a file does — so the page is requested as is. Each of ``QUERIES``
(two filters and a sort each, the first page of 25) is requested
``WARMUP`` times untimed, then ``REQUESTS`` times in a row by one client
(bounded in count and time). Server-side time = gunicorn's own duration of
the request (access log ``%(D)s``, each request tagged ``bench=<n>`` in its
query string, a parameter the list ignores); the client's time, which adds
the loopback and ``requests``, is in the note. The value is the p95 of the
slowest query.

Statements per page: the same pages rendered in-process (Flask test client,
same configuration, logged in through the same form) while a SQLAlchemy
listener counts the statements sent, on the full bench database and on a
small one (``<bench database>_small``: migrated and seeded with the demo
only, about fifty files), and on the full one with 100 rows per page. The
value is the full data set's count for the first query; ``ok`` means every
count equals its small-data-set counterpart and the 100-row page's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.harness import Bounds, Budget, BoundExceeded, Context, Result, at_most, not_measured, percentile, \
    require_loopback, server_times, staff_password, web_login

INSTRUCTOR = "demo-instructor@guichet.test"
PATH = "/instruction/espace/"
TARGET_MS = 150
WARMUP = 3
REQUESTS = 100
SECONDS = 120.0
# Two filters and a sort each (the list's query string, app/operations/workspace.py FILTER_KEYS and SORTS),
# each matching some of the demo's files too: an empty page skips the conflict queries.
QUERIES: list[dict[str, str]] = [
    {"stage": "instruction", "department": "51", "sort": "amount", "dir": "desc"},
    {"state": "committee", "size": "micro", "sort": "organisation"},
    {"call": "PACK-IA-2026", "eligibility": "undecided", "sort": "due"},
]


def label(query: dict[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in query.items())


def time_queries(ctx: Context) -> dict[str, tuple[list[float], list[float]]]:
    """label → (server seconds, client seconds) of ``REQUESTS`` first pages each."""
    base = ctx.guichet_url()
    http = web_login(base, INSTRUCTOR, staff_password(ctx.app, INSTRUCTOR))
    budget = Budget(Bounds(count=len(QUERIES) * (REQUESTS + WARMUP), seconds=SECONDS * len(QUERIES)))
    client: dict[str, dict[str, float]] = {}
    for q, query in enumerate(QUERIES):
        client[label(query)] = {}
        for i in range(WARMUP + REQUESTS):
            try:
                budget.take()
            except BoundExceeded:
                break
            tag = f"{q}-{i}"
            url = require_loopback(f"{base}{PATH}?{urlencode(query | {'bench': tag})}")
            started = time.perf_counter()
            response = http.get(url, allow_redirects=False, timeout=30)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or "dossiers</h2>" not in response.text:
                raise RuntimeError(f"{label(query)}: HTTP {response.status_code} {response.headers.get('Location', '')}")
            if i >= WARMUP:
                client[label(query)][tag] = elapsed
    time.sleep(0.5)  # the access log line is written once the response is sent
    server = server_times(ctx.server_log(), "bench")
    return {name: ([server[t] for t in tags if t in server], list(tags.values())) for name, tags in client.items()}


# --------------------------------------------------------------------------- statements per page


def small_database(ctx: Context) -> tuple[str, dict[str, str]]:
    """A second bench database with the demo data only; its URL and the environment of its app."""
    from bench.run import flask, reset_postgres

    url = ctx.database_url
    if ctx.is_postgres:
        head, _slash, name = url.rpartition("/")
        url = f"{head}/{name.split('?')[0]}_small"
        reset_postgres(url)
    else:
        url = f"sqlite:///{ctx.workdir / 'small.db'}"
    instance = ctx.workdir / "instance-small"
    env = {k: v for k, v in ctx.env.items() if k not in ("REDIS_URL", "GUICHET_ENV", "SECRET_KEY")}
    env.update({"DATABASE_URL": url, "GUICHET_INSTANCE": str(instance), "UPLOAD_FOLDER": str(instance / "uploads")})
    flask(env, "db", "upgrade")
    flask(env, "seed-demo")
    served = env | {k: ctx.env[k] for k in ("GUICHET_ENV", "SECRET_KEY") if k in ctx.env}
    return url, served


def count_statements(app: Any, password: str, pages: list[dict[str, str]]) -> tuple[list[int], list[int]]:
    """Statements sent while rendering each page (test client, logged in through the form), and each page's total."""
    import re

    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    counter = {"n": 0}

    def count(*_args: Any) -> None:
        counter["n"] += 1

    client = app.test_client()  # HTTPS, as production's PREFERRED_URL_SCHEME: CSRF then checks the Referer
    login = client.get("/connexion")
    page = login.get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    response = client.post("/connexion", headers={"Referer": login.request.url},
                           data={"email": INSTRUCTOR, "password": password, "csrf_token": token.group(1) if token else ""})
    if response.status_code != 302:
        raise RuntimeError(f"in-process login failed: HTTP {response.status_code}")
    counts, totals = [], []
    event.listen(engine, "before_cursor_execute", count)
    try:
        for query in pages:
            client.get(PATH, query_string=query)  # warm: the first request of a process loads more (versions, caches)
            counter["n"] = 0
            response = client.get(PATH, query_string=query)
            if response.status_code != 200:
                raise RuntimeError(f"{label(query)}: HTTP {response.status_code} in process")
            counts.append(counter["n"])
            found = re.search(r'<h2 id="liste">([^<]*)</h2>', response.get_data(as_text=True))
            totals.append(int(re.sub(r"\D", "", found.group(1))) if found else -1)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts, totals


def statements(ctx: Context) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
    """(full, full with 100 rows a page, small) statement counts per query, and the totals full and small."""
    from app import create_app

    password = staff_password(ctx.app, INSTRUCTOR)
    full, full_totals = count_statements(ctx.app, password, QUERIES)
    wide, _ = count_statements(ctx.app, password, [q | {"per_page": "100"} for q in QUERIES])
    _url, env = small_database(ctx)
    small_app = create_app(env=env)
    small_password = staff_password(small_app, INSTRUCTOR)
    small, small_totals = count_statements(small_app, small_password, QUERIES)
    with small_app.app_context():
        from app.extensions import db

        db.engine.dispose()
    return full, wide, small, full_totals, small_totals


def file_count(ctx: Context) -> int:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Application

    with ctx.app.app_context():
        return db.session.execute(select(func.count(Application.id))).scalar_one()


def run(ctx: Context) -> list[Result]:
    if not ctx.is_postgres:
        reason = "needs PostgreSQL (the target is production's database): run it through `make bench`"
        return [not_measured("instructor_list.p95", reason, unit="ms", target=TARGET_MS),
                not_measured("instructor_list.queries_per_page", reason, unit="queries")]
    timings = time_queries(ctx)
    per_query = {}
    for name, (server, client) in timings.items():
        if len(server) < len(client) * 0.9:
            raise RuntimeError(f"{name}: {len(server)} server times in the access log for {len(client)} requests")
        per_query[name] = (percentile(server, 95) * 1000, percentile(server, 50) * 1000, percentile(client, 95) * 1000,
                           len(server))
    worst = max(per_query, key=lambda n: per_query[n][0])
    full, wide, small, full_totals, small_totals = statements(ctx)
    files = file_count(ctx)
    constant = full == small == wide
    detail = "; ".join(f"`{n}` p95 {v[0]:.0f} ms (median {v[1]:.0f}, client p95 {v[2]:.0f}, {v[3]} requests)"
                       for n, v in per_query.items())
    return [
        at_most("instructor_list.p95", round(per_query[worst][0], 1), "ms", TARGET_MS,
                note=f"server-side (gunicorn's request time), first page of 25, the slowest of {len(QUERIES)} "
                     f"filter+sort queries: {detail}; one client, sequential, after {WARMUP} untimed requests each"),
        Result("instructor_list.queries_per_page", full[0], "queries", None, ok=constant,
               note=f"statements per page (whole request, in process) for the {len(QUERIES)} queries: "
                    f"{full} on the bench data, {files:,} files (totals {full_totals}), {wide} with 100 rows a page, "
                    f"{small} on the demo data only (totals {small_totals}); ok = the same counts"),
    ]
