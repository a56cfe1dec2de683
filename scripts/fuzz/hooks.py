"""Schemathesis hooks for `make fuzz` (SCHEMATHESIS_HOOKS=scripts/fuzz/hooks.py).

The document says an id is a UUID; a random one names nothing, so every detail, action and
bulk call would stop at 404. Before the document is loaded, the ids the tests generate are
narrowed to the seeded records (FUZZ_IDS: the JSON seed.py printed), plus the nil UUID
that names nothing: path ids, `X-Tenant-Id`, and the ids request bodies and list filters
refer to. Only the copy schemathesis loads changes; negative cases still send anything.

The local gateway (`cargo lambda watch`) answers 500 by itself, before any function runs,
to a header value or a body that is not UTF-8: it cannot put them in a Lambda event (API
Gateway base64-encodes such a body instead). Those cases would test the emulator, not the
service, so they are sent with the offending bytes escaped (`map_case`).

The same gateway now and then answers a request with its own 500 (a problem document,
`{"type": "https://httpstatuses.com/500", ...}`, never the service's `{"detail": ...}`),
mostly for large responses. Such a failure is sent again, up to twice (`filter_failure`):
it is dropped only when a retry gets the function's answer, and that answer passes the
same checks; the summary counts the failures dropped.
"""

import json
import os
import sys

NIL = "00000000-0000-0000-0000-000000000000"

# The path segment before `{id}`, and the seeded record it names.
KINDS = {
    "leads": "lead",
    "sources": "source",
    "tags": "tag",
    "activities": "activity",
    "notes": "note",
    "custom-fields": "custom_field",
    "members": "member",
    "invitations": "invitation",
    "api-keys": "api_key",
    "webhooks": "webhook",
    "domains": "domain",
}


def _ids():
    with open(os.environ["FUZZ_IDS"]) as f:
        return json.load(f)


def _one_of(values, nullable=False):
    schema = {"type": ["string", "null"] if nullable else "string", "enum": list(values)}
    if nullable:
        schema["enum"].append(None)
    return schema


def _path_id(ids, path, method):
    segments = path.strip("/").split("/")
    kind = KINDS[segments[segments.index("{id}") - 1]]
    # Deletes go to the `drop` record, everything else (a lead's actions and timelines too)
    # to `keep`; a delete of a lead's sub-path does not exist.
    role = "drop" if method == "delete" and path.endswith("{id}/") else "keep"
    seeded = ids.get(kind, {}).get(role)
    return _one_of([seeded, NIL] if seeded else [NIL])


def _narrow_parameters(ids, tenant, path, method, operation):
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        if where == "path" and name == "id":
            parameter["schema"] = _path_id(ids, path, method)
        elif where == "header" and name == "X-Tenant-Id":
            parameter["schema"] = _one_of([tenant])
        elif where == "query" and name == "lead":
            parameter["schema"] = _one_of([ids["lead"]["keep"], NIL])
        elif where == "query" and name in ("tags", "tag"):
            parameter["schema"]["items"] = _one_of([ids["tag"]["keep"], NIL])


def _narrow_bodies(ids, schemas):
    lead = _one_of([ids["lead"]["keep"], NIL])
    leads = _one_of([ids["lead"]["keep"], ids["lead"]["drop"], NIL])
    tags = _one_of([ids["tag"]["keep"], ids["tag"]["drop"]])
    source = _one_of([ids["source"]["keep"]], nullable=True)
    for name in ("ActivityCreate", "NoteCreate"):
        schemas[name]["properties"]["lead"] = lead
    for name in ("LeadCreate", "LeadUpdate", "BulkUpdate"):
        properties = schemas[name]["properties"]
        properties["source_id"] = source
        properties["tag_ids"]["items"] = tags
    for name in ("BulkUpdate", "BulkAssign", "BulkTag", "LeadIds"):
        schemas[name]["properties"]["lead_ids"]["items"] = leads
    for field in ("add", "remove"):
        schemas["BulkTag"]["properties"][field]["items"] = tags


def before_load_schema(context, raw_schema):
    ids = _ids()
    tenant = os.environ["FUZZ_TENANT"]
    for path, item in raw_schema.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                _narrow_parameters(ids, tenant, path, method, operation)
    _narrow_bodies(ids, raw_schema["components"]["schemas"])


GATEWAY_ERROR = b"https://httpstatuses.com/500"
_retried = {}


def _from_gateway(response):
    return response.status_code == 500 and GATEWAY_ERROR in response.content


def _retry(case):
    """Whether the request, sent again, gets the function's answer and that passes."""
    from schemathesis import checks

    token = os.environ["FUZZ_TOKEN"]
    for _ in range(2):
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if _from_gateway(response):
            continue
        try:
            case.validate_response(
                response,
                checks=[
                    checks.not_a_server_error,
                    checks.status_code_conformance,
                    checks.content_type_conformance,
                    checks.response_headers_conformance,
                    checks.response_schema_conformance,
                ],
            )
        except Exception as failure:  # a real failure: keep the reported one, say why
            print(f"fuzz: the retry of {case.method} {case.path} failed: {failure}", file=sys.stderr)
            return False
        return True
    return False


def filter_failure(context, failure, case, response):
    if not _from_gateway(response):
        return True
    key = id(response)
    if key not in _retried:
        _retried[key] = _retry(case)
    return not _retried[key]


def map_case(context, case):
    for name, value in list((case.headers or {}).items()):
        if isinstance(value, str) and not value.isascii():
            case.headers[name] = value.encode("ascii", "backslashreplace").decode()
    if isinstance(case.body, (bytes, bytearray)):
        case.body = bytes(case.body).decode("utf-8", "backslashreplace").encode()
    return case


try:
    import schemathesis

    schemathesis.hook(before_load_schema)
    schemathesis.hook(map_case)
    schemathesis.hook(filter_failure)
except ImportError:  # imported outside schemathesis (a syntax check)
    pass
