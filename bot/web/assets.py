"""``/static/…``: the pages' scripts and styles, and Swagger UI's, served by the app itself.

The Content-Security-Policy allows no inline script or style and nothing from another origin, so every page
loads its code from here (Swagger UI from the installed ``swagger-ui-py`` package, never a CDN; its 5.x
renders FastAPI's OpenAPI 3.1, which the 4.x of ``swagger-ui-bundle`` refused).
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
SWAGGER_UI_PREFIX = "/static/swagger-ui"


class _Revalidated(StaticFiles):
    """Asks the browser to check its copy each time (a cheap 304 by ETag): after an upgrade, pages never run
    yesterday's script from a heuristic cache."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


def mount_assets(app: FastAPI) -> None:
    # The more specific mount first: Starlette takes the first that matches.
    swagger_ui = Path(str(files("swagger_ui") / "static"))
    app.mount(SWAGGER_UI_PREFIX, _Revalidated(directory=swagger_ui), name="swagger-ui")
    app.mount("/static", _Revalidated(directory=STATIC_DIR), name="static")
