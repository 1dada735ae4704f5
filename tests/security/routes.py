"""The app's route table as the security tests see it: every (method, path) with the roles its guards let
in, the routes that are public by design (with the reason), and values for every path parameter.

A new route is picked up automatically. If it has no guard and is not in ``PUBLIC``, or it has a path
parameter not in ``PARAMS``, or its roles differ from ``authz_matrix.txt``, the security tests fail and
say what to decide."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.routes import HTTPRoute

ROLES = ("cadre", "leader", "supervisor", "admin")
ACTORS = {"cadre": "cadre_a", "leader": "leader_a", "supervisor": "super", "admin": "admin"}  # world users
MATRIX_FILE = Path(__file__).with_name("authz_matrix.txt")

# Public by design: (method, path template) → why anyone may call it.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe for the process manager",
    ("GET", "/static/{file_path:path}"): "CSS/JS/icons, no data",
    ("HEAD", "/static/{file_path:path}"): "CSS/JS/icons, no data",
    ("GET", "/login"): "the login form",
    ("POST", "/login"): "logging in (rate limited, CSRF checked)",
    ("POST", "/api/v1/auth/token"): "phones log in for a bearer token (rate limited)",
    ("GET", "/"): "redirects to /login or /today",
    ("GET", "/sw.js"): "service worker source, no data",
    ("GET", "/manifest.webmanifest"): "web app manifest, no data",
    ("GET", "/offline"): "the offline fallback page, no data",
    ("GET", "/public"): "公示: redacted public board",
    ("GET", "/public/units/{unit_id:int}"): "公示 of one unit, redacted",
    ("GET", "/public/villages/{village_id:int}"): "公示 of one village, redacted",
    ("GET", "/public/photos/{photo_uuid:str}"): "photos a leader marked public for 公示",
    ("GET", "/r/{token:str}"): "群众评价: residents rate through a signed, expiring link",
    ("POST", "/r/{token:str}"): "群众评价: the resident's rating (token, CSRF checked)",
}
PUBLIC_PREFIXES = {"/schema": "the OpenAPI description of the API (no data)"}

# Routes whose guard admits more roles than the handler finally serves: the handler refuses some of them
# itself (403). Listed so the difference is visible; guards at controller level are preferred.
HANDLER_CHECKED: dict[tuple[str, str], str] = {
    ("POST", "/ledger/{concern_id:int}/rating-link"): "ledger: only the concern's cadre/leader makes rating links",
    ("POST", "/ledger/visits/{visit_id:int}/rating-link"): "ledger: only the visit's cadre/leader makes rating links",
}

# Path parameters. "own"/"other" name objects in the viewer's unit (甲镇) and outside it (乙镇), made by
# `Objects`; a fixed value means the route is checked for roles only (its objects are made by that
# capability's own flows, whose tests check scoping), with the reason.
SCOPED = {"target_id", "visit_id", "photo_uuid", "concern_id", "unit_id", "flag_id"}
FIXED: dict[str, tuple[str, str]] = {
    "day": ("2026-11-20", "a calendar day: the viewer's own diary"),
    "kind": ("household", "an import template kind"),
    "token": ("not-a-real-token", "rating link tokens are secrets; the ledger tests make real ones"),
    "file_path": ("css/app.css", "a static file"),
    "path": ("openapi.json", "an OpenAPI rendering"),
    "village_id": ("1", "public board"),
    "request_id": ("999999", "extension requests: made in the ledger flow"),
    "check_id": ("999999", "spot checks / look-backs: made by sampling"),
    "run_id": ("999999", "spot-check runs: made by sampling"),
    "meeting_id": ("999999", "village meetings: made in the ledger flow"),
    "day_id": ("999999", "calendar days: admin settings"),
    "rule_id": ("999999", "coverage rules: made by the campaign seed; tests/test_coverage_campaign.py edits them"),
}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the template, e.g. /visits/{visit_id:int}
    roles: tuple[str, ...] | None  # None: public by design
    api: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def scoped(self) -> bool:
        return any(p in SCOPED for p in self.params)

    def url(self, values: dict[str, Any]) -> str:
        return _PARAM.sub(lambda m: str(values.get(m.group(1), FIXED.get(m.group(1), ("?", ""))[0])), self.path)

    def line(self) -> str:
        return f"{self.method:6} {self.path:58} {'PUBLIC' if self.roles is None else ','.join(self.roles)}"


def _guard_names(handler: Any) -> list[str]:
    return [getattr(getattr(g, "func", g), "__name__", repr(g)) for g in handler.resolve_guards()]


def allowed_roles(guards: list[str]) -> tuple[str, ...] | None:
    """Roles all guards let through (admins pass every role guard); None when there is no guard at all."""
    if not guards:
        return None
    roles = set(ROLES)
    for name in guards:
        if name == "requires_login":
            continue
        if not name.startswith("requires_role_"):
            raise AssertionError(f"unknown guard {name}: teach tests/security/routes.py which roles it lets in")
        roles &= set(name.removeprefix("requires_role_").split("_")) | {"admin"}
    return tuple(r for r in ROLES if r in roles)


def routes(app: Litestar) -> Iterator[Route]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                if method == "OPTIONS":  # CORS preflight, answered by the framework
                    continue
                roles = allowed_roles(_guard_names(handler))
                yield Route(method, route.path, roles, route.path.startswith("/api/"))


def is_public(route: Route) -> bool:
    return route.key in PUBLIC or any(route.path.startswith(p) for p in PUBLIC_PREFIXES)
