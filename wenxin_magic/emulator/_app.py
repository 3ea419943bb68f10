"""The emulator's Starlette app: v1's routes (``_v1``), v2's (``_v2``), and what answers any other path."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ._exchange import ANY_METHOD, json_text, request_id
from ._state import EmulatorState
from ._v1 import routes as v1_routes
from ._v2 import routes as v2_routes


def build_app(state: EmulatorState) -> Starlette:
    async def not_found(request: Request):
        state.log(request, await request.body())["status"] = 404
        return Response(json_text({"error_code": 3, "error_msg": "Unsupported openapi method", "id": request_id()}),
                        status_code=404, media_type="application/json")

    async def client_left(request: Request, exc: ClientDisconnect):
        # every handler reads the whole body before it logs the request: a client that hangs up meanwhile
        # (an interrupted notebook cell) is logged here, without the body it never finished sending
        state.log(request, b"")["client_closed"] = True
        return Response(status_code=400)  # never sent: uvicorn drops writes to a closed connection

    return Starlette(exception_handlers={ClientDisconnect: client_left}, routes=[
        *v1_routes(state),
        *v2_routes(state),
        Route("/{rest:path}", not_found, methods=ANY_METHOD),
    ])
