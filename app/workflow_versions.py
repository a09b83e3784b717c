"""Workflow definitions as published: the file on disk is published (stored
with its hash) the first time a file needs it; a file then runs on the stored
version it recorded, whatever happens to the file on disk."""

from __future__ import annotations

from functools import lru_cache
import json

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import workflows
from app.models import WorkflowVersion


def publish(session: Session, workflow_name: str, actor_id: int | None = None) -> WorkflowVersion:
    """Store the definition on disk under its hash (once) and return that version."""
    definition = workflows.load_definition(workflow_name)
    existing = session.execute(select(WorkflowVersion).where(WorkflowVersion.hash == definition.hash)).scalar_one_or_none()
    if existing is not None:
        return existing
    version = WorkflowVersion(name=definition.name, hash=definition.hash, label=str(definition.version or ""),
                              definition=definition.to_dict(), published_by_id=actor_id)
    try:
        with session.begin_nested():
            session.add(version)
    except IntegrityError:  # published concurrently by another transaction
        return session.execute(select(WorkflowVersion).where(WorkflowVersion.hash == definition.hash)).scalar_one()
    return version


def current_version(session: Session, workflow_name: str) -> str:
    """The hash new files of ``workflow_name`` run on (publishing it if needed)."""
    return publish(session, workflow_name).hash


@lru_cache(maxsize=64)
def _definition_from_json(hash_: str, payload: str) -> workflows.Definition:
    definition = workflows.from_dict(json.loads(payload))
    if definition.hash != hash_:
        raise RuntimeError(f"stored workflow version {hash_[:12]} does not match its content")
    return definition


def definition_for(session: Session, hash_: str) -> workflows.Definition:
    """The definition a file runs on, rebuilt from the stored version."""
    version = session.execute(select(WorkflowVersion).where(WorkflowVersion.hash == hash_)).scalar_one()
    return _definition_from_json(version.hash, json.dumps(version.definition, sort_keys=True))
