"""The object store port: where task logs (and code snapshot tarballs) are kept.

Two implementations share one contract test suite: a local folder (the default) and any
S3-compatible store. Keys are '/'-separated paths; values are bytes.
"""

from __future__ import annotations

from brisa.objectstore.base import ObjectInfo, ObjectStore, StoreUnavailable, open_object_store

__all__ = ["ObjectInfo", "ObjectStore", "StoreUnavailable", "open_object_store"]
