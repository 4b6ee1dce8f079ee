"""Property-based requests generated from the OpenAPI schema against a real server
(Schemathesis): no 500s, every status documented, every response matches its schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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

from corpus.defaults import DEFAULT_CORPUS_DIR
from embeddings.encoder import Encoder
from embeddings.reranker import Reranker
from service.api.app import create_app
from service.ops.engine import Engine
from service.settings import Settings

TOKEN = "schema-fuzz-admin-token-0123456789"
schema = schemathesis.openapi.from_dict(create_app(Settings(admin_token=TOKEN)).openapi())


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory,
    encoder: Encoder,
    reranker: Reranker,
    serve: Callable[..., httpx.Client],
) -> Iterator[str]:
    """A real server with admin on, over its own data directory (fuzzing adds articles)."""
    config = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), admin_token=TOKEN)
    engine = Engine(config, encoder=encoder, reranker=reranker)
    engine.bootstrap(DEFAULT_CORPUS_DIR)
    yield str(serve(engine, config).base_url)
    engine.close()


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
