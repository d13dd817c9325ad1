"""``/email/unsubscribe``: RFC 8058 one-click unsubscribe, no sign-in needed.

GET only shows a page with a button (mail scanners and link previews open
links; they must not unsubscribe anyone). POST with ``List-Unsubscribe=One-Click``
in its form body, from that button or from the mail client, turns email off.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from taskbell.runtime import Runtime
from taskbell.services import email_render, preferences
from taskbell.web import security

router = APIRouter()
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _page(state: str, action: str = "", status_code: int = 200) -> HTMLResponse:
    template = email_render.environment().get_template("unsubscribe.html")
    headers = {**security.client_headers(), "Cache-Control": "no-store"}
    return HTMLResponse(
        template.render(state=state, action=action), status_code=status_code, headers=headers
    )


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


@router.get("/email/unsubscribe", include_in_schema=False)
async def show(request: Request, token: str = "") -> HTMLResponse:
    """Changes nothing: a page whose button sends the one-click POST."""
    if not await preferences.token_is_known(_runtime(request).sessions, token):
        return _page("unknown", status_code=404)
    return _page("ask", action=f"{request.url.path}?{request.url.query}")


@router.post("/email/unsubscribe", include_in_schema=False)
async def unsubscribe(request: Request, token: str = "") -> HTMLResponse:
    form = await request.form()
    if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        return _page("unknown", status_code=400)
    if not await preferences.unsubscribe(_runtime(request).sessions, token):
        return _page("unknown", status_code=404)
    return _page("done")
