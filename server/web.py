"""Rendering helpers shared by every capability: full page or htmx fragment, Jinja globals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Redirect, Template

from server import clock
from server.security import csrf_token


def is_fragment_request(request: Request) -> bool:
    """True for an htmx request that wants a fragment (not a boosted full-page navigation)."""
    headers = request.headers
    return headers.get("hx-request") == "true" and headers.get("hx-boosted") != "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    fragment: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """Render ``template``, or only ``fragment`` when htmx asks for a part of the page."""
    name = fragment if fragment and is_fragment_request(request) else template
    return Template(template_name=name, context=context or {}, status_code=status_code, headers=headers)


def see_other(path: str, request: Request | None = None) -> Redirect:
    """Redirect after a successful POST (htmx follows it too)."""
    return Redirect(path=path, status_code=303)


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    roles: tuple[str, ...]  # empty: everyone logged in


# The bottom tab bar, most important first: a role with more than five shows four and 更多 (more).
# A capability that adds a top-level page adds one line here.
NAV_ITEMS: list[NavItem] = [
    NavItem("/today", "今日", ("cadre", "leader")),
    NavItem("/coverage", "督导", ("supervisor", "leader")),
    NavItem("/ledger", "台账", ()),
    NavItem("/map", "地图", ("supervisor", "leader")),
    NavItem("/integrity", "抽查", ("supervisor",)),
    NavItem("/visits", "走访", ()),
    NavItem("/diary", "日志", ("cadre", "leader")),
    NavItem("/assessment", "考核", ("leader", "supervisor")),
    NavItem("/sync", "同步", ("cadre", "leader")),
]


def nav_items(viewer: Any) -> list[NavItem]:
    if viewer is None:
        return []
    return [i for i in NAV_ITEMS if not i.roles or viewer.role in i.roles or viewer.role == "admin"]


def jinja_globals(settings: Any = None) -> dict[str, Any]:
    """Globals for every template; `settings` is the app's own (default: from the environment)."""
    from server.accounts.models import ROLE_LABELS
    from server.config import get_settings
    from server.ledger.models import CONCERN_CATEGORY_LABELS, CONCERN_STATE_LABELS
    from server.places.models import ASSIGNMENT_KIND_LABELS, TARGET_KIND_LABELS
    from server.visits.models import VISIT_TYPE_LABELS

    return {
        "csrf_token": csrf_token,
        "nav_items": nav_items,
        "new_uuid": lambda: str(uuid.uuid4()),
        "fmt_time": clock.fmt_local,
        "settings": settings or get_settings(),
        "ROLE_LABELS": ROLE_LABELS,
        "TARGET_KIND_LABELS": TARGET_KIND_LABELS,
        "ASSIGNMENT_KIND_LABELS": ASSIGNMENT_KIND_LABELS,
        "VISIT_TYPE_LABELS": VISIT_TYPE_LABELS,
        "CONCERN_CATEGORY_LABELS": CONCERN_CATEGORY_LABELS,
        "CONCERN_STATE_LABELS": CONCERN_STATE_LABELS,
    }


def fmt_distance(meters: float | None) -> str:
    if meters is None:
        return "—"
    return f"{meters / 1000:.1f} 公里" if meters >= 1000 else f"{meters:.0f} 米"


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(content: bytes, filename: str) -> Response:
    """An Excel download with a Chinese file name (RFC 5987), never cached (it holds personal data)."""
    return Response(
        content,
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Cache-Control": "no-store"},
    )
