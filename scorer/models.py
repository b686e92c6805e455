"""The model cache's reads of the registry: a stored model by version, and the deployed
models (champion first, then shadows), as the scorer loads them.

Writes (registration, status changes) belong to the lifecycle
(:mod:`pgfraud.lifecycle.registry`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import psycopg

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError


class RegistryError(PgfraudError):
    """A model does not exist, or cannot make the requested status change."""


@dataclasses.dataclass(frozen=True)
class StoredModel:
    version: int
    status: str
    onnx_bytes: bytes
    lightgbm_model: str | None
    feature_names: list[str]
    feature_set_version: int
    threshold: float


def _q(name: str) -> str:
    return queries.load("models")[name]


def load(conn: psycopg.Connection[Any], version: int) -> StoredModel:
    row = conn.execute(_q("load_model"), {"version": version}).fetchone()
    if row is None:
        raise RegistryError(f"model {version} does not exist")
    return _stored(row)


def deployed(conn: psycopg.Connection[Any]) -> list[StoredModel]:
    """The champion (first) and the shadow models."""
    return [_stored(row) for row in conn.execute(_q("deployed_models")).fetchall()]


def _stored(row: tuple[Any, ...]) -> StoredModel:
    version, status, onnx_bytes, lightgbm_model, names, feature_set, threshold = row
    return StoredModel(int(version), status, bytes(onnx_bytes), lightgbm_model, list(names),
                       int(feature_set), float(threshold))
