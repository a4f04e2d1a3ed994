"""Static files under content-hashed names, served `immutable`: a page names `asset("brisa.js")`
and gets `/static/brisa.<hash>.js`, so a new release never meets a stale cached file."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    path: Path
    url: str


def _hashed(relative: str, content: bytes) -> str:
    digest = hashlib.sha256(content).hexdigest()[:12]
    stem, dot, suffix = relative.rpartition(".")
    return f"/static/{stem}.{digest}.{suffix}" if dot else f"/static/{relative}.{digest}"


def scan(root: Path = STATIC) -> dict[str, Asset]:
    """Every static file by its name relative to `root` (`vendor/htmx-2.0.11.min.js`)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            relative = path.relative_to(root).as_posix()
            found[relative] = Asset(path, _hashed(relative, path.read_bytes()))
    return found


class Assets:
    def __init__(self, root: Path = STATIC) -> None:
        self.by_name = scan(root)
        self.by_url = {asset.url: asset for asset in self.by_name.values()}

    def url(self, name: str) -> str:
        return self.by_name[name].url  # a KeyError here is a typo in a template: fail loudly

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)

        @router.get("/static/{name:path}")
        def static(name: str) -> Response:
            asset = self.by_url.get(f"/static/{name}")
            if asset is None:
                return PlainTextResponse("no such static file", status_code=404)
            kind = mimetypes.guess_type(asset.path.name)[0] or "application/octet-stream"
            if asset.path.suffix in (".js", ".mjs"):
                kind = "text/javascript"
            return FileResponse(asset.path, media_type=kind, headers={"cache-control": IMMUTABLE})

        return router
