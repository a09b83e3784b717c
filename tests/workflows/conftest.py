"""Fixtures for the pure workflow-engine tests (no Flask, no database)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import workflows  # noqa: E402


# The engine's own plain-values context (workflows.StaticContext) stands for a file.
FakeContext = workflows.StaticContext


PACK_IA_DOCUMENTS = {"kbis", "devis_prestataire", "attestation_de_minimis", "liasse_fiscale"}

MINIMAL: dict[str, Any] = {
    "name": "mini",
    "version": "1",
    "initial": "draft",
    "states": {
        "draft": {"stage": "draft", "label": "Brouillon"},
        "submitted": {"stage": "eligibility"},
        "closed": {"stage": "closed", "final": True},
    },
    "transitions": [
        {
            "name": "submit",
            "from": "draft",
            "to": "submitted",
            "roles": ["applicant"],
            "guards": [{"name": "required_documents", "params": {"kinds": ["kbis"]}}],
            "effects": [{"name": "notify", "params": {"template": "depot", "to": "applicant"}}],
        },
        {
            "name": "close",
            "from": "submitted",
            "to": "closed",
            "roles": ["instructor"],
            "requires_reason": True,
            "guards": [{"name": "reviews_complete", "params": {"min": 1}}],
        },
    ],
}


@pytest.fixture
def ctx() -> FakeContext:
    return FakeContext()


@pytest.fixture
def minimal() -> dict[str, Any]:
    """A valid small definition each test may mutate."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture(scope="session")
def pack_ia() -> workflows.Definition:
    return workflows.load_definition("pack_ia")


@pytest.fixture(scope="session")
def ami() -> workflows.Definition:
    return workflows.load_definition("ami_numerique")


@pytest.fixture
def make_ctx() -> type[FakeContext]:
    """The FakeContext class, to build contexts with keyword arguments."""
    return FakeContext


@pytest.fixture
def pack_ia_documents() -> set[str]:
    return set(PACK_IA_DOCUMENTS)
