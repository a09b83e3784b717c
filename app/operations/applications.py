"""Creating files. Submission and every later transition go through the
workflow engine; drafts (creation, answers) live in ``app.operations.drafts``,
re-exported here for the callers that know this module."""

from __future__ import annotations

from app.operations.drafts import create_draft

__all__ = ["create_draft"]
