"""Property-based requests generated from the OpenAPI schema against a real server
(Schemathesis): no 500s, every status documented, every response matches its schema."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.app import create_app
from service.ops.engine import Engine
from service.settings import Settings

TOKEN = "schema-fuzz-admin-token-0123456789"
schema = schemathesis.openapi.from_dict(create_app(Settings(admin_token=TOKEN)).openapi())


@pytest.fixture(scope="module")
def base_url(fresh_server: Callable[..., tuple[httpx.Client, Engine]]) -> str:
    """A real server with admin on, over its own data directory (fuzzing adds articles)."""
    http, _ = fresh_server("fuzz", admin_token=TOKEN)
    return str(http.base_url)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_500s_and_responses_match_the_schema(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
