"""Property-based API testing from our own OpenAPI description (/schema/openapi.json): for every documented
operation, schemathesis generates requests (valid and invalid) and the app must never answer 5xx.

Bounded: MAX_EXAMPLES per operation, no shrinking deadline. The phone's operations (sync, photos, diary
notes) run as cadre_a with her bearer token, the rest as the admin (who passes every role guard)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from litestar import Litestar
from litestar.testing import TestClient

from server.app import create_app
from server.config import Settings
from tests.conftest import bearer
from tests.factories import World

MAX_EXAMPLES = 12
PHONE_PREFIXES = ("/api/v1/sync", "/api/v1/photos", "/api/v1/diary")

SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def tokens(settings: Settings, world: World) -> dict[str, dict[str, str]]:
    """Logged in through a separate app instance: the pooled connections of `app` must only ever see
    schemathesis's event loop (aiosqlite/asyncpg connections belong to the loop that opened them)."""
    with TestClient(app=create_app(settings)) as client:
        return {"cadre": bearer(client, "cadre_a"), "admin": bearer(client, "admin")}


def test_no_operation_answers_5xx(app: Litestar, tokens: dict[str, dict[str, str]]) -> None:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", app)
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8, "the OpenAPI description lost its operations"
    for operation in operations:
        headers = tokens["cadre" if operation.path.startswith(PHONE_PREFIXES) else "admin"]

        @given(case=operation.as_strategy())
        @SETTINGS
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)  # noqa: B023  (called right away, in this iteration)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {str(case.body)[:120]}: "
                                f"{response.status_code} {response.text[:200]}")

        check()
    assert not failures, "\n".join(failures[:20])
    assert len(statuses) >= 3 * len(operations) and any(s < 300 for s in statuses) and any(s >= 400 for s in statuses)
