"""For the site's monitoring, without a session or a token (they give counts, never personal data):
`GET /healthz`, the process answers; `GET /readyz`, it can serve: the store answers at this
cardflow's schema version and the workspace on disk loads without errors (503 with the failed
checks otherwise); `GET /metrics`, Prometheus' text format (`engine.report.metrics`).
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from engine.report.metrics import CONTENT_TYPE_LATEST, exposition
from engine.web.console import Console, console_of

router = APIRouter(include_in_schema=False)
Served = Annotated[Console, Depends(console_of)]


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(console: Served) -> JSONResponse:
    checks = await anyio.to_thread.run_sync(_readiness, console)
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    body = await anyio.to_thread.run_sync(exposition, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _readiness(console: Console) -> dict[str, dict[str, Any]]:
    from engine.definitions.cache import load_workspace_cached
    from engine.store import db

    checks: dict[str, dict[str, Any]] = {}
    try:
        with db.reading(console.engine) as connection:
            version = db.schema_version(connection)
        current = version == db.VERSION
        said = "answers" if current else f"schema version {version}, this cardflow's is {db.VERSION}: run `check-store --upgrade`"
        checks["store"] = {"ok": current, "detail": said}
    except Exception as error:  # refused, reset, starting up: not ready
        checks["store"] = {"ok": False, "detail": f"does not answer: {type(error).__name__}"}
    workspace = load_workspace_cached(console.workspace.root)
    errors = sum(1 for found in workspace.diagnostics if found.severity == "error")
    detail = "loads" if not errors else f"{errors} error(s) in {workspace.root}: run `cardflow validate`"
    checks["workspace"] = {"ok": not errors, "detail": detail}
    return checks
