"""Schema-based fuzzing of the whole HTTP API (schemathesis) against a live server on loopback.

Every operation of the OpenAPI document gets schema-valid and schema-invalid requests (bodies, query
strings, headers, path parameters). Every schemathesis check runs on each response: no 5xx, status codes,
content types, headers and bodies as documented, invalid requests refused, valid ones accepted, no hang
(each request has a 20 s timeout). Bounded: ``MAX_EXAMPLES`` per operation, the whole module in well
under a minute. Reproduce a failure with the ``curl`` line schemathesis prints, or replay the run with
``pytest tests/reliability/test_fuzz_api.py --hypothesis-seed=<seed>``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from support import SAMPLE_META_FIELDS
from support.reliability import reliability_settings
from support.server import LiveServer

from passerelle.indexing.filter_table import LANG
from passerelle.indexing.metadata import parse_meta_fields
from passerelle.service.api.app import create_app
from passerelle.service.errors import FilterError
from passerelle.service.filter_eval import bind
from passerelle.service.filters import parse_filter

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
REQUEST_TIMEOUT_S = 20

# The document the fuzzer reads is the one the live server serves (checked by test_the_fuzzed_document_is_served):
# it depends on the settings only, so it is built here from an app that never loads its index.
SPEC = create_app(reliability_settings(Path("sample-usem3"))).openapi()
DEFAULT_K = reliability_settings().default_k
schema = schemathesis.openapi.from_dict(SPEC)
schema.config.update(request_timeout=REQUEST_TIMEOUT_S)
schema.config.generation.update(max_examples=MAX_EXAMPLES, database="none")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():  # query strings carry text
        return int(value)
    return None


def _depth_below_k(values: Any) -> bool:
    if not isinstance(values, dict):
        return False
    k, depth = _as_int(values.get("k", DEFAULT_K)), _as_int(values.get("depth"))
    return k is not None and depth is not None and depth < k


def _filter_misfits(values: Any) -> bool:
    """A filter object (or JSON text) that the grammar or the served index's fields refuse."""
    raw = values.get("filter") if isinstance(values, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return True
    if not isinstance(raw, dict):
        return False  # absent, or not an object at all: JSON Schema says whether that is valid
    try:
        bind(parse_filter(raw), {f.name: f for f in (LANG, *parse_meta_fields(SAMPLE_META_FIELDS))})
    except FilterError:
        return True
    return False


def _latent_on_an_index_without_it(values: Any) -> bool:
    """mode=latent: the served index (usem3) keeps no latent terms, so it refuses that mode (422)."""
    return isinstance(values, dict) and values.get("mode") == "latent"


# The rules JSON Schema cannot state: an explicit depth below k is refused (422), and so is a filter that
# names fields the index lacks or values of the wrong type (the fields are the loaded index's), and
# mode=latent on an index without latent terms. Leave such requests out, so a refusal of any other
# schema-valid request still fails the run.
@schema.hook("filter_case")
def _rules_json_schema_cannot_state(context: Any, case: Any) -> bool:
    return not any(
        _depth_below_k(values) or _filter_misfits(values) or _latent_on_an_index_without_it(values)
        for values in (case.body, case.query)
    )


def _answered(server: LiveServer) -> Counter[str]:
    """Requests the server has answered so far, by status code (from its Prometheus metrics)."""
    with server.client() as client:
        text = client.get("/metrics").text
    counts: Counter[str] = Counter()
    for status, value in re.findall(r'^passerelle_http_requests_total\{[^}]*status="(\d+)"[^}]*\} (\S+)$', text, re.M):
        counts[status] += int(float(value))
    return counts


BEFORE: Counter[str] = Counter()


def test_the_fuzzed_document_is_served(reliable_server: LiveServer) -> None:
    with reliable_server.client() as client:
        served = client.get("/openapi.json").json()
    assert served == SPEC
    BEFORE.update(_answered(reliable_server))
    assert {"/v1/search", "/v1/search/batch", "/v1/documents/{doc_id}", "/v1/admin/reload"} <= set(SPEC["paths"])


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_conforms_to_its_schema(case: Any, reliable_server: LiveServer) -> None:
    case.call_and_validate(base_url=reliable_server.url)


def test_the_server_saw_no_server_error(reliable_server: LiveServer) -> None:
    """The server's own count: every fuzzed request answered, none with a 5xx (503 would be load)."""
    if not BEFORE:
        pytest.skip("counts the requests of this module's fuzzing: run the whole module")
    during = _answered(reliable_server) - BEFORE
    print(f"\nfuzzing: {sum(during.values())} requests answered by status {dict(sorted(during.items()))}")
    assert sum(during.values()) >= MAX_EXAMPLES * len(SPEC["paths"])
    assert not [status for status in during if status.startswith("5")], during
