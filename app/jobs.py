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

QUEUES = ("default", "mail", "documents")
_PENDING = "guichet_pending_jobs"


@dataclass
class PendingJob:
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "default"


def enqueue_after_commit(func: Callable[..., Any], *args: Any, queue: str = "default", **kwargs: Any) -> None:
    from app.extensions import db

    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    db.session.info.setdefault(_PENDING, []).append(PendingJob(func, args, kwargs, queue))


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
    jobs: list[PendingJob] = session.info.pop(_PENDING, [])
    if not jobs:
        return
    job_runner = runner()
    for job in jobs:
        job_runner.dispatch(job)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)
