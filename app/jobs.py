"""Background jobs, queued during a request and dispatched after its commit.

``enqueue_after_commit(func, *args)`` records a job on the current database
session. When the session commits, the jobs are dispatched:

* ``REDIS_URL`` set: pushed to the named RQ queue, served by
  ``flask --app wsgi worker``;
* otherwise in-process: run at once in a fresh application context
  (``JOBS_EAGER``, the tests' default) or in a small thread pool.

A rollback drops them, so no mail is ever sent about data that was not saved.
Job functions take plain values (ids, strings), never ORM objects.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

QUEUES = ("default", "mail", "documents", "exports")
_PENDING = "guichet_pending_jobs"


@dataclass
class PendingJob:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"


def enqueue_after_commit(func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any) -> None:
    """Queue ``func(*args, **kwargs)`` to run once the current transaction commits.

    The job is tied to the innermost transaction open now: rolling back that
    savepoint, or the whole transaction, drops it."""
    from app.extensions import db

    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    session = db.session()
    if not session.in_transaction():
        session.begin()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append((transaction, PendingJob(func, args, kwargs, queue)))


def _run_in_context(app: Flask, job: PendingJob) -> None:
    with app.app_context():
        try:
            job.func(*job.args, **job.kwargs)
        except Exception:  # a failed job must not break the request that queued it
            log.exception("in-process job %s failed", job.func.__name__)
            raise


class JobRunner:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.redis_url: str | None = app.config.get("REDIS_URL")
        self.eager: bool = bool(app.config.get("JOBS_EAGER"))
        self._executor: ThreadPoolExecutor | None = None
        self._redis = None

    @property
    def redis(self):
        if self._redis is None:
            from redis import Redis

            self._redis = Redis.from_url(self.redis_url)
        return self._redis

    def queue(self, name: str = "default"):
        from rq import Queue

        return Queue(name, connection=self.redis)

    def dispatch(self, job: PendingJob) -> None:
        if self.redis_url:
            self.queue(job.queue).enqueue(job.func, *job.args, **job.kwargs)
        elif self.eager:
            _run_in_context(self.app, job)
        else:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="guichet-job")
            self._executor.submit(_run_in_context, self.app, job)


def init_app(app: Flask) -> None:
    app.extensions["guichet_jobs"] = JobRunner(app)


def runner() -> JobRunner:
    return current_app.extensions["guichet_jobs"]


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released: the real commit is still to come
    pending = session.info.pop(_PENDING, [])
    if not pending:
        return
    job_runner = runner()
    for _transaction, job in pending:
        job_runner.dispatch(job)


def _within(transaction: Any, ancestor: Any) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction: Any) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [(t, job) for t, job in pending if not _within(t, previous_transaction)]


def make_worker(app: Flask, queue_names: tuple[str, ...] = QUEUES, *, simple: bool = False):
    """An RQ worker whose jobs run inside an application context with a fresh
    database session. ``simple`` runs jobs in this process (no fork)."""
    from rq import SimpleWorker, Worker

    from app.extensions import db

    base = SimpleWorker if simple else Worker

    class AppWorker(base):  # type: ignore[valid-type, misc]
        def perform_job(self, job, queue, *args, **kwargs):  # type: ignore[override]
            with app.app_context():
                try:
                    return super().perform_job(job, queue, *args, **kwargs)
                finally:
                    db.session.remove()

    job_runner: JobRunner = app.extensions["guichet_jobs"]
    return AppWorker([job_runner.queue(q) for q in queue_names], connection=job_runner.redis)
