"""The version identity of a call's workflow: the hash of its definition."""

from __future__ import annotations

import workflows


def current_version(workflow_name: str) -> str:
    return workflows.load_definition(workflow_name).hash
