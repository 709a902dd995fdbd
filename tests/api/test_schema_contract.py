"""The OpenAPI schema walked operation by operation: every error a view can answer is
documented with the error body, evidence endpoints describe their own records, lists that
are not paginated say so, and fields that can be null or blank say that too."""

import json

import pytest

REF = "#/components/schemas/"
METHODS = ("get", "post", "put", "patch", "delete")
# Answered by anyone (no sign-in): the farmer's application and its lookup.
PUBLIC = {("post", "/api/self-applications/"), ("post", "/api/self-applications/lookup/")}
EVIDENCE = (
    "home-visits",
    "consents",
    "cross-checks",
    "appraisals",
    "notices",
    "monthly-visits",
    "follow-up-visits",
    "measures",
    "adjustments",
    "warnings",
)


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    """The schema as /api/schema/ serves it (JSON), generated once for the module."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    with django_db_blocker.unblock():
        generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


@pytest.mark.django_db
def test_the_served_schema_is_the_generated_one(api, schema):
    served = api("cadre_a").get("/api/schema/", {"format": "json"})
    assert served.status_code == 200
    assert served.json()["paths"].keys() == schema["paths"].keys()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def _refs(node) -> set[str]:
    """Every component a piece of the schema points at, however deep."""
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node)) if node else set()
    return set()


def _component_refs(schema, name, seen=None) -> set[str]:
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    refs = _refs(schema["components"]["schemas"][name])
    for ref in list(refs):
        refs |= _component_refs(schema, ref.removeprefix(REF), seen)
    return refs


def test_every_operation_documents_the_errors_it_can_answer(schema):
    operations = list(_operations(schema))
    assert len(operations) > 100
    for method, path, operation in operations:
        codes = set(operation["responses"])
        where = f"{method.upper()} {path}"
        assert any(code.startswith("2") for code in codes), where
        if (method, path) not in PUBLIC:
            # Signed out (or a revoked key) is 401; a role without the right, or a session
            # POST without its CSRF token, is 403: possible on every non-public endpoint.
            assert {"401", "403"} <= codes, where
        if "requestBody" in operation:
            assert {"400", "415"} <= codes, where
        if "{" in path:
            assert "404" in codes, where
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        if "page" in query:
            assert {"400", "404"} <= codes, where
        # Every endpoint is throttled (per user, per address, or by its own scope).
        assert "429" in codes, where
        for code, response in operation["responses"].items():
            if code.startswith("4"):
                content = response.get("content", {})
                assert content, (where, code)
                for media in content.values():
                    # The common error body, or one that extends it (a 409 naming the
                    # screening run in the way): a Chinese `detail` either way.
                    body = schema["components"]["schemas"][
                        media["schema"]["$ref"].removeprefix(REF)
                    ]
                    assert "detail" in body.get("required", []), (where, code)


def test_the_error_body_is_the_one_the_exception_handler_writes(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["detail"]
    assert {"detail", "errors", "unmet"} <= set(error["properties"])


def test_evidence_endpoints_never_take_or_answer_a_case(schema):
    case_schemas = {REF + name for name in ("Case", "CaseRequest", "PatchedCaseRequest")}
    case_schemas |= {REF + "PaginatedCaseList", REF + "CaseDetail"}
    for evidence in EVIDENCE:
        path = f"/api/cases/{{id}}/{evidence}/"
        for method, operation in schema["paths"][path].items():
            if method not in METHODS:
                continue
            used = _refs(operation)
            for ref in list(used):
                used |= _component_refs(schema, ref.removeprefix(REF))
            assert not used & case_schemas, (method, path, used & case_schemas)


@pytest.mark.parametrize(
    "path",
    [
        "/api/cases/{id}/transitions/",
        "/api/cases/notice-list/",
        "/api/clues/{id}/transitions/",
        "/api/region-policies/effective/",
        "/api/cross-check-items/",
    ],
)
def test_plain_lists_are_not_documented_as_paginated_or_filtered(schema, path):
    operation = schema["paths"][path]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array", path
    query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    assert not query & {"page", "page_size", "status", "category", "risk_type"}, (path, query)


def test_the_notice_list_takes_its_period_only(schema):
    operation = schema["paths"]["/api/cases/notice-list/"]["get"]
    query = {p["name"]: p.get("required", False) for p in operation["parameters"]}
    assert query == {"start": True, "end": True}


def _enum(schema, prop) -> set:
    """The values a property may take, through its enum components (oneOf: enum, blank)."""
    options = prop.get("oneOf") or prop.get("allOf") or [prop]
    values = set()
    for option in options:
        if "$ref" in option:
            option = schema["components"]["schemas"][option["$ref"].removeprefix(REF)]
        values |= set(option.get("enum", []))
    return values


def test_blank_choices_are_in_their_enum(schema):
    case = schema["components"]["schemas"]["Case"]["properties"]
    # A case not (yet) cleared answers clearance_kind "" and natural_reason "".
    assert {"", "assisted", "natural"} <= _enum(schema, case["clearance_kind"])
    assert "" in _enum(schema, case["natural_reason"])


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Case", "relapse_of"),
        ("Case", "spot_check_drawn_at"),
        ("Case", "identified_on"),
        ("Case", "head_name"),
        ("Me", "region"),
        ("Me", "region_name"),
        ("Batch", "department"),
        ("Clue", "household_number"),
        ("DispatchRound", "dispatched_by_name"),
        ("HomeVisit", "recorded_by"),
    ],
)
def test_fields_that_can_be_null_are_documented_nullable(schema, component, field):
    prop = schema["components"]["schemas"][component]["properties"][field]
    assert prop.get("nullable") is True, (component, field, prop)


def test_query_parameters_say_an_empty_value_is_no_value(schema):
    operation = schema["paths"]["/api/cases/"]["get"]
    optional = [p for p in operation["parameters"] if p["in"] == "query"]
    assert optional and all(p.get("allowEmptyValue") for p in optional)


def test_page_parameters_carry_their_bounds(schema):
    parameters = {p["name"]: p for p in schema["paths"]["/api/households/"]["get"]["parameters"]}
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}


def test_bodies_are_documented_as_json_or_as_a_file_upload(schema):
    for method, path, operation in _operations(schema):
        if "requestBody" not in operation:
            continue
        media = set(operation["requestBody"]["content"])
        assert media in ({"application/json"}, {"multipart/form-data"}) or media == {
            "application/json",
            "multipart/form-data",
        }, (method, path, media)
    consent = schema["paths"]["/api/cases/{id}/consents/"]["post"]["requestBody"]["content"]
    assert set(consent) == {"multipart/form-data"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/cases/{id}/transitions/",
        "/api/cases/{id}/adjustments/",
        "/api/clues/{id}/verify/",
        "/api/clues/{id}/accept/",
        "/api/clues/{id}/dispatch/",
        "/api/dispatch-rounds/{id}/dispatch/",
    ],
)
def test_steps_that_meet_a_state_conflict_document_the_409(schema, path):
    responses = schema["paths"][path]["post"]["responses"]
    assert "409" in responses
    assert responses["409"]["content"]["application/json"]["schema"] == {"$ref": REF + "Error"}
