"""Redirect targets taken from the request."""

from __future__ import annotations


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site, else None: no scheme, no
    host, no backslash or control character (browsers drop those, and may then
    read "/<tab>/host" as the protocol-relative "//host")."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ord(ch) < 32 or ch in "\\\x7f" for ch in target):
        return None
    return target
