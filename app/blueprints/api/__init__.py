"""JSON API under /api/v1, authenticated by personal bearer tokens.

One module per resource; each registers its routes on ``bp`` and describes
them in its ``OPENAPI`` dict, merged by ``openapi.py``. Every module of this
package is imported, so adding a file is enough to add its routes.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
