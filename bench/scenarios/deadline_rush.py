"""deadline_rush: 200 applicants submit complete Pack IA files, each with a
1 MB attachment, within one minute, through the JSON API served by gunicorn.

Accounts, organisations and API tokens are prepared beforehand in the
database (not timed). Then each applicant, in its own thread with its own
HTTP session, starts at a seeded random instant of the one-minute window and
makes the seven requests of a real deposit: create the draft, write the
answers, upload the four documents (the quote ``devis_prestataire`` is 1 MB),
submit. Measured: every request's latency (p99 under 1 s), errors (none), and
in the database afterwards, once the RQ workers are idle: one submitted file
per applicant (none lost, none duplicated) and one receipt each.

Throughput: a second group of applicants makes the same deposits as fast as
``SATURATION_CLIENTS`` closed-loop clients can (requests per second), beside
the ceiling: the same clients posting to ``bench/ceiling_app.py`` (one row
inserted per request) under the same gunicorn configuration. The target is
the rate the rush needs: 200 × 7 requests in 60 s.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Budget, Bounds, BoundExceeded, Context, Result, at_most, percentile, \
    require_loopback, run_threads

CALL = "PACK-IA-2026"
APPLICANTS = 200
WINDOW_S = 60.0
P99_TARGET_S = 1.0
SATURATION_APPLICANTS = 60
SATURATION_CLIENTS = 30
BIG_DOCUMENT = "devis_prestataire"
BIG_SIZE = 1024 * 1024
REQUESTS_PER_APPLICANT = 7  # create, answers, 4 documents, submit
TIMEOUT_S = 30


@dataclass
class Applicant:
    email: str
    token: str
    org: dict[str, Any]


@dataclass
class Tally:
    latencies: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.latencies.append((kind, seconds))
            if error:
                self.errors.append(error)


def prepare_applicants(ctx: Context, n: int, group: int) -> list[Applicant]:
    """``n`` applicant accounts, each owning one organisation, with a read/write token."""
    from app.extensions import db
    from app.models import Membership, Organisation, User, utcnow
    from app.operations.accounts import grant_role
    from app.operations.demo import make_siret
    from app.operations.tokens import issue_token

    out: list[Applicant] = []
    with ctx.app.app_context():
        session = db.session
        for i in range(n):
            siret = make_siret(60_000_000 + group * 10_000 + i)
            user = User(email=f"bench-{group}-{i}@guichet.test", name=f"Porteur {group}-{i}", active=True,
                        email_confirmed_at=utcnow(), password_hash="!")  # no password: the API token is enough
            org = Organisation(siret=siret, siren=siret[:9], name=f"Entreprise du rush {group}-{i}", legal_form="SAS",
                               headcount=42, department="51", naf_code="2562B", size_category="small")
            session.add_all([user, org, Membership(user=user, organisation=org, is_owner=True)])
            session.flush()
            grant_role(session, user, "applicant", actor=None, actor_role="system")
            _token, secret = issue_token(session, user, name="bench", scopes=["read", "write"])
            out.append(Applicant(user.email, secret, {"siret": siret, "department": "51"}))
        session.commit()
    return out


def documents(index: int) -> list[tuple[str, bytes, str]]:
    from tests.journey import file_keys, make_pdf

    files = []
    for key in file_keys(CALL):
        if key == BIG_DOCUMENT:
            body = make_pdf(f"Devis {index}")
            content = make_pdf(f"Devis {index}", padding=BIG_SIZE - len(body))
        else:
            content = make_pdf(f"{key} {index}")
        files.append((key, content, f"{key}-{index}.pdf"))
    return files


def answers(applicant: Applicant, index: int) -> dict[str, Any]:
    """The tests' valid Pack IA answers, with a contact address production accepts (not a .test domain)."""
    from tests.journey import pack_answers

    return pack_answers(applicant.org) | {"contact_email": f"contact{index}@entreprise-du-rush.fr"}


def deposit(base: str, applicant: Applicant, index: int, tally: Tally, budget: Budget) -> str | None:
    """The seven requests of one deposit; the reference, or None on the first failure."""
    import requests

    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {applicant.token}"

    def call(kind: str, method: str, path: str, expect: int, **kw: Any) -> dict | None:
        budget.take()
        started = time.perf_counter()
        try:
            response = http.request(method, require_loopback(base + path), timeout=TIMEOUT_S, **kw)
        except requests.RequestException as exc:
            tally.add(kind, time.perf_counter() - started, f"{kind}: {type(exc).__name__}")
            return None
        elapsed = time.perf_counter() - started
        if response.status_code != expect:
            tally.add(kind, elapsed, f"{kind}: HTTP {response.status_code} {response.text[:200]}")
            return None
        tally.add(kind, elapsed)
        return response.json()

    created = call("create", "POST", "/api/v1/applications", 201,
                   json={"call": CALL, "organisation": applicant.org["siret"], "title": f"Projet du rush {index}"})
    if created is None:
        return None
    reference = created["reference"]
    if call("answers", "PATCH", f"/api/v1/applications/{reference}", 200,
            json={"answers": answers(applicant, index)}) is None:
        return None
    for key, content, name in documents(index):
        if call("upload", "POST", f"/api/v1/applications/{reference}/files/{key}", 201,
                files={"file": (name, content, "application/pdf")}) is None:
            return None
    submitted = call("submit", "POST", f"/api/v1/applications/{reference}/submit", 200)
    return reference if submitted is not None else None


def check_database(ctx: Context, applicants: list[Applicant]) -> tuple[int, int, int]:
    """(files submitted, organisations with more than one file, receipts missing)."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Application, Document, Organisation

    sirets = [a.org["siret"] for a in applicants]
    with ctx.app.app_context():
        rows = db.session.execute(
            select(Organisation.siret, func.count(Application.id), func.count(Application.submitted_at))
            .join(Application, Application.organisation_id == Organisation.id)
            .where(Organisation.siret.in_(sirets)).group_by(Organisation.siret)
        ).all()
        submitted = sum(r[2] for r in rows)
        duplicated = sum(1 for r in rows if r[1] > 1)
        receipts = db.session.execute(
            select(func.count(func.distinct(Document.application_id))).join(Application)
            .join(Organisation, Application.organisation_id == Organisation.id)
            .where(Organisation.siret.in_(sirets), Document.kind == "receipt")
        ).scalar_one()
    return submitted, duplicated, submitted - receipts


def rush(ctx: Context, applicants: list[Applicant], window: float) -> tuple[Tally, list, float]:
    base = ctx.guichet_url()
    tally = Tally()
    budget = Budget(Bounds(count=len(applicants) * REQUESTS_PER_APPLICANT, seconds=window + 180))
    rng = random.Random(20261122)
    offsets = sorted(rng.uniform(0, window) for _ in applicants)
    started = time.monotonic() + 0.5

    def one(i: int) -> str | None:
        time.sleep(max(0.0, started + offsets[i] - time.monotonic()))
        return deposit(base, applicants[i], i, tally, budget)

    results = run_threads(len(applicants), one, join_seconds=window + 240)
    return tally, results, time.monotonic() - started


def saturation(ctx: Context, applicants: list[Applicant], clients: int) -> tuple[float, float, Tally]:
    """Requests/s and deposits/s with ``clients`` closed-loop clients."""
    base = ctx.guichet_url()
    tally = Tally()
    budget = Budget(Bounds(count=len(applicants) * REQUESTS_PER_APPLICANT, seconds=300))
    queue = list(range(len(applicants)))
    lock = threading.Lock()

    def client(_c: int) -> int:
        done = 0
        while True:
            with lock:
                if not queue:
                    return done
                i = queue.pop()
            if deposit(base, applicants[i], 10_000 + i, tally, budget) is not None:
                done += 1

    started = time.perf_counter()
    done = run_threads(clients, client, join_seconds=330)
    elapsed = time.perf_counter() - started
    deposits = sum(d for d in done if isinstance(d, int))
    succeeded = len(tally.latencies) - len(tally.errors)
    return succeeded / elapsed, deposits / elapsed, tally


def ceiling(ctx: Context, clients: int, count: int) -> float:
    """Inserts/s of the bare Flask + SQLAlchemy endpoint, ``clients`` closed-loop clients, ``count`` requests."""
    import requests

    from bench import ceiling_app

    ceiling_app.create_table(ctx.database_url)
    url = require_loopback(ctx.ceiling_url() + "/insert")
    budget = Budget(Bounds(count=count, seconds=120))
    failures: list[int] = []

    def client(_c: int) -> None:
        http = requests.Session()
        while True:
            try:
                budget.take()
            except BoundExceeded:
                return
            response = http.post(url, data="ceiling", timeout=TIMEOUT_S)
            if response.status_code != 201:
                failures.append(response.status_code)

    started = time.perf_counter()
    run_threads(clients, client, join_seconds=150)
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"the ceiling app failed {len(failures)} requests: {failures[:5]}")
    return budget.used / elapsed


def run(ctx: Context) -> list[Result]:
    n = 10 if ctx.small else APPLICANTS
    window = 5.0 if ctx.small else WINDOW_S
    n_sat = 5 if ctx.small else SATURATION_APPLICANTS
    clients = 4 if ctx.small else SATURATION_CLIENTS
    applicants = prepare_applicants(ctx, n, group=1)
    others = prepare_applicants(ctx, n_sat, group=2)
    ctx.ensure_rq_workers()
    base = ctx.guichet_url()
    require_loopback(base)

    tally, references, elapsed = rush(ctx, applicants, window)
    jobs_done = ctx.wait_jobs_done(240)
    submitted, duplicated, receipts_missing = check_database(ctx, applicants)
    failed_threads = [r for r in references if isinstance(r, BaseException)]
    errors = len(tally.errors) + len(failed_threads)
    lost = n - submitted
    latencies = [s for _k, s in tally.latencies]
    p99 = percentile(latencies, 99)
    by_kind = {}
    for kind in ("create", "answers", "upload", "submit"):
        values = [s for k, s in tally.latencies if k == kind]
        if values:
            by_kind[kind] = round(percentile(values, 99) * 1000)

    req_rate, deposit_rate, sat_tally = saturation(ctx, others, clients)
    ceiling_rate = ceiling(ctx, clients, count=max(200, len(sat_tally.latencies)))
    needed = n * REQUESTS_PER_APPLICANT / window
    error_sample = (tally.errors + [repr(e) for e in failed_threads])[:3]
    return [
        at_most("deadline_rush.errors", errors, "requests", 0,
                note=f"{len(latencies)} requests by {n} applicants over {window:.0f} s"
                     + (f"; first errors: {error_sample}" if error_sample else "")),
        at_most("deadline_rush.lost_or_duplicated", lost + duplicated + receipts_missing, "files", 0,
                note=f"{submitted}/{n} submitted, {duplicated} organisations with two files, "
                     f"{receipts_missing} receipts missing" + ("" if jobs_done else "; RQ queues not drained in 240 s")),
        at_most("deadline_rush.p99", round(p99, 3), "s", P99_TARGET_S,
                note="per request; p99 by kind (ms): " + ", ".join(f"{k} {v}" for k, v in by_kind.items())
                     + f"; median {percentile(latencies, 50) * 1000:.0f} ms; rush lasted {elapsed:.1f} s"),
        Result("deadline_rush.throughput", round(req_rate, 1), "requests/s", round(needed, 1),
               ceiling=round(ceiling_rate, 1), ratio=round(req_rate / ceiling_rate, 3),
               ok=req_rate >= needed and not sat_tally.errors,
               note=f"successful requests; {clients} closed-loop clients, {len(others)} deposits ({deposit_rate:.2f} deposits/s, "
                    f"{len(sat_tally.errors)} errors); target = the rush's rate (7 requests × {n} / {window:.0f} s); "
                    "ceiling = bare Flask + SQLAlchemy one-row insert, same gunicorn, same clients"),
    ]
