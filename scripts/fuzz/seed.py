#!/usr/bin/env python3
"""Seeds a tenant for `make fuzz` through the API itself and prints the ids as JSON.

    seed.py GATEWAY_URL OWNER_TOKEN > ids.json

Two records of each kind: `keep` ones that reads, edits and actions use, and `drop` ones
for the DELETE operations (so that a delete does not leave the other operations with
nothing to find). A custom field, a source, a tag, two leads (with the source and the tag),
an activity and a note on each lead, two invitations, two API keys, and the two members
fuzz.sh made (`FUZZ_MEMBERS`).
"""

import json
import os
import sys
import urllib.error
import urllib.request


def call(gateway, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        gateway + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as e:
        sys.exit(f"seed: {method} {path} answered {e.code}: {e.read().decode()}")


def main():
    gateway, token = sys.argv[1].rstrip("/"), sys.argv[2]
    base = "/api/leads/api/v1"

    def post(path, body):
        return call(gateway, token, "POST", f"{base}/{path}/", body)["id"]

    ids = {"custom_field": {}, "source": {}, "tag": {}, "lead": {}, "activity": {}, "note": {}}
    for role in ("keep", "drop"):
        ids["custom_field"][role] = post(
            "custom-fields",
            {"name": f"fuzz_{role}", "field_type": "text", "help_text": "Seeded by make fuzz."},
        )
        ids["source"][role] = post("sources", {"name": f"Fuzz source {role}"})
        ids["tag"][role] = post("tags", {"name": f"fuzz-{role}", "color": "#336699"})
    for role in ("keep", "drop"):
        ids["lead"][role] = post(
            "leads",
            {
                "first_name": "Fuzz",
                "last_name": role.title(),
                "email": f"fuzz.{role}@example.com",
                "company": "Fuzz Co",
                # The `drop` source stays without leads, so that deleting it can succeed.
                "source_id": ids["source"]["keep"],
                "tag_ids": [ids["tag"]["keep"]],
                "custom_fields": {"fuzz_keep": "seeded"},
            },
        )
    lead = ids["lead"]["keep"]
    for role in ("keep", "drop"):
        ids["activity"][role] = post(
            "activities",
            {
                "lead": lead,
                "activity_type": "call",
                "title": f"Seeded call ({role})",
                "description": "Seeded by make fuzz.",
            },
        )
        ids["note"][role] = post("notes", {"lead": lead, "content": f"Seeded note ({role})."})
    ids["invitation"] = {}
    for role in ("keep", "drop"):
        ids["invitation"][role] = call(
            gateway,
            token,
            "POST",
            "/api/tenants/current/invitations/",
            {"email": f"fuzz.invitee.{role}@example.com", "role": "user"},
        )["id"]
    ids["api_key"] = {}
    for role in ("keep", "drop"):
        ids["api_key"][role] = call(
            gateway,
            token,
            "POST",
            "/api/tenants/current/api-keys/",
            {"name": f"Fuzz key ({role})", "scopes": ["leads:read"]},
        )["id"]
    ids["webhook"] = {}
    for role in ("keep", "drop"):
        ids["webhook"][role] = post(
            "webhooks",
            {"url": f"http://127.0.0.1:9/fuzz-{role}", "events": ["lead.created"]},
        )
    ids["domain"] = {}
    for role in ("keep", "drop"):
        ids["domain"][role] = call(
            gateway,
            token,
            "POST",
            "/api/tenants/current/domains/",
            {"domain": f"fuzz-{role}.example.com"},
        )["id"]
    # Members (FUZZ_MEMBERS: "keep,drop" user ids made by `crm-admin member add`).
    members = os.environ.get("FUZZ_MEMBERS", "").split(",")
    if len(members) == 2:
        ids["member"] = {"keep": members[0], "drop": members[1]}
    json.dump(ids, sys.stdout)
    print()


if __name__ == "__main__":
    main()
