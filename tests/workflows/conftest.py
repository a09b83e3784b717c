"""Fixtures for the pure workflow-engine tests (no Flask, no database)."""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import workflows  # noqa: E402


@dataclass
class FakeContext:
    """A hand-written FileContext, independent from workflows.StaticContext."""

    reason: str | None = None
    amount_cents: int | None = None
    documents: set[str] = field(default_factory=set)
    eligibility: bool | None = None
    reviews: int = 0
    decision: str | None = None
    call_open: bool = True
    signed: bool = False
    paid: bool = False
    lapse: bool = False

    def document_kinds(self) -> set[str]:
        return set(self.documents)

    def eligibility_passed(self) -> bool | None:
        return self.eligibility

    def submitted_review_count(self) -> int:
        return self.reviews

    def committee_decision(self) -> str | None:
        return self.decision

    def call_is_open(self) -> bool:
        return self.call_open

    def agreement_signed(self) -> bool:
        return self.signed

    def balance_paid(self) -> bool:
        return self.paid

    def lapse_due(self) -> bool:
        return self.lapse


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
