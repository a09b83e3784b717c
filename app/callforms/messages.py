"""Translation hook for the package's messages.

The core modules import no Flask: messages are French source strings wrapped in
``_()`` (so Babel extracts them), formatted with ``%`` like flask-babel does.
The web layer plugs the real translator in with ``set_translator`` (the
applicant blueprint does it with ``app.formatting.translate``); without it, the
French text is returned.
"""

from __future__ import annotations

from typing import Callable

_translator: Callable[..., str] | None = None


def set_translator(translator: Callable[..., str] | None) -> None:
    global _translator
    _translator = translator


def _(text: str, **variables: object) -> str:
    if _translator is not None:
        return _translator(text, **variables)
    return text % variables if variables else text
