"""Every request body refuses fields it does not know (a 422 naming them), on every route.

Walks the OpenAPI document: the JSON body of every operation, and every object schema it
reaches, must say `additionalProperties: false` (request models derive from
`voxbase.core.schemas.Input`). Then one request per operation proves it over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import bearer, make_admin


def _ref(schema: dict[str, Any]) -> str | None:
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _open_models(components: dict[str, Any], name: str, seen: set[str]) -> list[str]:
    """Object schemas reachable from `name` that accept undeclared properties."""
    if name in seen:
        return []
    seen.add(name)
    schema = components[name]
    found = []
    if "properties" in schema and schema.get("additionalProperties") is not False:
        found.append(name)
    children = [*schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    for prop in schema.get("properties", {}).values():
        children += [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
        children += [prop["items"]] if isinstance(prop.get("items"), dict) else []
    for child in children:
        if (ref := _ref(child)) is not None:
            found += _open_models(components, ref, seen)
    return found


def json_bodies(schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(method, path, model) of every operation taking a JSON body described by a model."""
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media, body in content.items():
                if "json" not in media:
                    continue
                top = body["schema"]
                for option in [top, *top.get("anyOf", []), *top.get("oneOf", [])]:
                    if (model := _ref(option)) is not None:
                        found.append((method, path, model))
    return found


async def test_every_json_body_model_refuses_unknown_fields(client):
    schema = (await client.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    bodies = json_bodies(schema)
    assert len(bodies) >= 30
    open_ones = {
        f"{method.upper()} {path}: {', '.join(models)}"
        for method, path, model in bodies
        if (models := _open_models(components, model, set()))
    }
    assert not open_ones, "derive these request models from voxbase.core.schemas.Input:\n" + (
        "\n".join(sorted(open_ones))
    )


async def test_an_unknown_field_is_a_422_naming_it_on_every_operation(app, client):
    schema = (await client.get("/openapi.json")).json()
    auth = bearer((await make_admin(app, client))["access_token"])
    operations = {(method, path) for method, path, _ in json_bodies(schema)}
    for method, path in sorted(operations):
        url = path
        for name in [p["name"] for p in schema["paths"][path][method].get("parameters", [])]:
            url = url.replace("{" + name + "}", str(uuid.uuid4()))
        response = await client.request(method, url, json={"zz_not_a_field": 1}, headers=auth)
        assert response.status_code == 422, f"{method.upper()} {path}: {response.status_code}"
        errors = response.json()["errors"]
        assert any(
            e["loc"][-1] == "zz_not_a_field" and e["type"] == "extra_forbidden" for e in errors
        ), f"{method.upper()} {path}: {errors}"
