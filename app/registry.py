"""Company-registry lookup by SIRET, behind an interface.

``CompanyRegistry`` is what the rest of the code uses; ``OfflineRegistry``
reads a small bundled file of fictitious Grand Est companies
(``app/data/registry_offline.json``), so the application works without any
network access. A real client (INSEE's Sirene API, annuaire-entreprises…) is
plugged in with the ``COMPANY_REGISTRY`` setting:

* ``offline`` (default): the bundled file;
* ``package.module:name``: ``name`` is called with the Flask app and returns an
  object with a ``lookup(siret)`` method.

A registry that cannot answer (network down, quota…) raises
``RegistryUnavailable``; callers then let the user type the data in.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from flask import Flask

DATA_FILE = Path(__file__).resolve().parent / "data" / "registry_offline.json"


@dataclass(frozen=True)
class CompanyRecord:
    siret: str
    name: str
    legal_form: str | None = None
    naf_code: str | None = None
    address: str | None = None
    postal_code: str | None = None
    city: str | None = None
    department: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RegistryUnavailable(RuntimeError):
    """The registry could not be queried; the caller falls back to manual entry."""


@runtime_checkable
class CompanyRegistry(Protocol):
    def lookup(self, siret: str) -> CompanyRecord | None:
        """The record of the establishment ``siret`` (14 digits, already
        validated), or None when the registry does not know it."""
        ...


class OfflineRegistry:
    """Companies from a JSON file: ``{"companies": [{"siret": …, "name": …}, …]}``."""

    def __init__(self, path: Path | str = DATA_FILE) -> None:
        with Path(path).open(encoding="utf-8") as fh:
            data = json.load(fh)
        fields = set(CompanyRecord.__dataclass_fields__)
        self._records = {
            row["siret"]: CompanyRecord(**{k: v for k, v in row.items() if k in fields}) for row in data["companies"]
        }

    def lookup(self, siret: str) -> CompanyRecord | None:
        return self._records.get("".join(siret.split()))

    def __len__(self) -> int:
        return len(self._records)


def _load(spec: str, app: Flask) -> CompanyRegistry:
    if spec == "offline":
        return OfflineRegistry()
    module_name, _sep, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    registry = factory(app)
    if not isinstance(registry, CompanyRegistry):
        raise TypeError(f"COMPANY_REGISTRY={spec!r} did not return an object with a lookup(siret) method")
    return registry


def get_registry(app: Flask) -> CompanyRegistry:
    """The registry chosen by ``COMPANY_REGISTRY``, built once per app."""
    spec = app.config.get("COMPANY_REGISTRY", "offline")
    cached = app.extensions.get("guichet_registry")
    if cached is None or cached[0] != spec:
        cached = (spec, _load(spec, app))
        app.extensions["guichet_registry"] = cached
    return cached[1]


__all__ = ["CompanyRecord", "CompanyRegistry", "OfflineRegistry", "RegistryUnavailable", "get_registry"]
