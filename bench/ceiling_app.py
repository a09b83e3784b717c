"""The ceiling of ``deadline_rush``: a bare Flask + SQLAlchemy app whose one
endpoint inserts one row and commits, on the same database, served by the same
gunicorn configuration in the same run. Nothing of Guichet is imported.

    POST /insert   -> 201 {"id": n}
    GET  /health   -> 200
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, create_engine, insert

metadata = MetaData()
rows = Table("bench_ceiling_rows", metadata,
             Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
             Column("payload", String(200), nullable=False))


def make_engine(url: str | None = None):
    url = url or os.environ["DATABASE_URL"]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True)


def create_table(url: str) -> None:
    """Called by the bench before gunicorn starts (not by every worker)."""
    engine = make_engine(url)
    metadata.create_all(engine, checkfirst=True)
    engine.dispose()


engine = make_engine() if "DATABASE_URL" in os.environ else None
app = Flask(__name__)


@app.post("/insert")
def insert_row():
    payload = (request.get_data(as_text=True) or "x")[:200]
    with engine.begin() as conn:  # type: ignore[union-attr]
        new_id = conn.execute(insert(rows).values(payload=payload)).inserted_primary_key[0]
    return jsonify({"id": new_id}), 201


@app.get("/health")
def health():
    return "ok"
