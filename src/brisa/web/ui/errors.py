"""What a browser sees when something fails: a page that says what was not found (or went
wrong) and links back; for a fragment, an inline message with a retry and a request id. Never a
stack trace: that goes to the server log under the request id. API paths keep their JSON."""

from __future__ import annotations

import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from brisa.errors import BrisaError
from brisa.web.api.app import bounded, error_status
from brisa.web.ui.templating import render

log = logging.getLogger(__name__)
API_PREFIXES = ("/api/", "/execution/")
FRAGMENT_PREFIX = "/_/"
REQUEST_ID = "X-Request-Id"  # on a 500: the id its traceback is logged under
CRASHED = "the server failed to answer this request; it has been logged"
TOO_SLOW = "this took too long to read; narrow the filter and try again"
TITLES = {
    400: "Bad request",
    401: "Sign in",
    403: "Not allowed",
    404: "Not found",
    503: "Took too long",
    409: "Conflict",
    500: "Something went wrong",
}


def too_slow(exc: Exception) -> bool:
    """Whether `exc` is a read cut by the statement timeout (`[ui] statement_timeout`):
    PostgreSQL's "canceling statement due to statement timeout", SQLite's "interrupted"."""
    text = str(getattr(exc, "orig", "")).lower()
    return isinstance(exc, OperationalError) and (
        "statement timeout" in text or text == "interrupted"
    )


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def error_page(request: Request, status: int, message: str, request_id: str = "") -> Response:
    fragment = request.url.path.startswith(FRAGMENT_PREFIX)
    return render(
        request,
        "fragment_error.html" if fragment else "error.html",
        status_code=status,
        status=status,
        title=TITLES.get(status, "Error"),
        message=message,
        request_id=request_id,
        retry_url=str(request.url) if fragment else "",
    )


def install(app: FastAPI) -> None:
    """HTML errors for page and fragment paths; API paths answer as the API always did."""
    api_brisa = app.exception_handlers[BrisaError]
    api_http = app.exception_handlers[HTTPException]

    @app.exception_handler(BrisaError)
    async def _brisa_error(request: Request, exc: BrisaError) -> Response:
        if is_api(request.url.path):
            return await _call(api_brisa, request, exc)
        return error_page(request, error_status(exc), bounded(str(exc)))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if is_api(request.url.path):
            return await _call(api_http, request, exc)
        message = str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = f"there is no page at {request.url.path}"
        return error_page(request, exc.status_code, bounded(message))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        if is_api(request.url.path):
            return api_failure(request.url.path, exc)
        if too_slow(exc):
            return error_page(request, 503, TOO_SLOW)
        request_id = secrets.token_hex(6)
        log.error("request %s %s failed", request_id, request.url.path, exc_info=exc)
        answer = error_page(request, 500, CRASHED, request_id)
        answer.headers[REQUEST_ID] = request_id
        return answer


def api_failure(path: str, exc: Exception) -> Response:
    """An API path's answer to an exception that is not Brisa's: 503 for a read cut by the
    statement timeout, else 500 with a request id (the traceback is logged under it)."""
    if too_slow(exc):
        return JSONResponse({"detail": TOO_SLOW}, status_code=503)
    request_id = secrets.token_hex(6)
    log.error("request %s %s failed", request_id, path, exc_info=exc)
    answer = JSONResponse({"detail": f"{CRASHED} (request id {request_id})"}, 500)
    answer.headers[REQUEST_ID] = request_id
    return answer


async def _call(handler: object, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)  # type: ignore[operator]
    if hasattr(result, "__await__"):
        result = await result
    assert isinstance(result, Response)
    return result
