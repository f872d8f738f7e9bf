"""/api/docs/: the API reference, rendered on the server from the OpenAPI schema, so it
needs no script from elsewhere and keeps to the portal's Content-Security-Policy. Each
endpoint can also be tried in DRF's browsable API (open its URL while logged in)."""

from django.views.generic import TemplateView
from drf_spectacular.generators import SchemaGenerator

METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _type_of(schema: dict) -> str:
    if "$ref" in schema:
        return _ref_name(schema["$ref"])
    if "allOf" in schema:
        return " & ".join(_type_of(s) for s in schema["allOf"])
    if "oneOf" in schema:
        return " | ".join(_type_of(s) for s in schema["oneOf"])
    kind = schema.get("type", "object")
    if kind == "array":
        return f"[{_type_of(schema.get('items', {}))}]"
    if "enum" in schema:
        return " | ".join(f'"{v}"' for v in schema["enum"] if v is not None)
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    return kind


def _first_ref(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"]
    if schema.get("type") == "array":
        return _first_ref(schema.get("items", {}))
    return ""


def _objects(schema: dict) -> list[dict]:
    components = schema.get("components", {}).get("schemas", {})
    return [
        {"name": name, "fields": _fields(body, components)}
        for name, body in sorted(components.items())
        if body.get("properties")
    ]


def _fields(schema: dict, components: dict) -> list[dict]:
    if "$ref" in schema:
        schema = components.get(_ref_name(schema["$ref"]), {})
    required = set(schema.get("required", []))
    rows = []
    for name, prop in (schema.get("properties") or {}).items():
        resolved = prop
        ref = prop.get("$ref") or next(
            (s["$ref"] for s in prop.get("allOf", []) + prop.get("oneOf", []) if "$ref" in s),
            "",
        )
        target = components.get(_ref_name(ref), {}) if ref else {}
        if "enum" in target:
            resolved = target  # show an enum's values, not its name
        rows.append(
            {
                "name": name,
                "type": _type_of(resolved),
                "required": name in required,
                "read_only": prop.get("readOnly", False),
                "nullable": prop.get("nullable", False),
                "description": prop.get("description", ""),
            }
        )
    return rows


def _operations(schema: dict) -> list[dict]:
    components = schema.get("components", {}).get("schemas", {})
    groups: dict[str, list] = {}
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = []
            for content_type, content in (op.get("requestBody") or {}).get("content", {}).items():
                fields = _fields(content.get("schema", {}), components)
                same = next((b for b in body if b["fields"] == fields), None)
                if same:  # JSON, form and multipart usually take the same fields
                    same["content_type"] += f", {content_type}"
                else:
                    body.append({"content_type": content_type, "fields": fields})
            responses = []
            for code, response in op.get("responses", {}).items():
                content = response.get("content", {})
                first = next(iter(content.values()), {}).get("schema", {})
                responses.append(
                    {
                        "code": code,
                        "description": response.get("description", ""),
                        "type": _type_of(first) if first else "",
                        "ref": _ref_name(_first_ref(first)) if _first_ref(first) else "",
                    }
                )
            tag = (op.get("tags") or ["api"])[0]
            groups.setdefault(tag, []).append(
                {
                    "id": op.get("operationId", f"{method}-{path}"),
                    "method": method.upper(),
                    "path": path,
                    "description": op.get("description", ""),
                    "parameters": op.get("parameters", []),
                    "body": body,
                    "responses": responses,
                    "auth": bool(op.get("security")) and {} not in op.get("security", []),
                }
            )
    return [{"name": name, "operations": ops} for name, ops in groups.items()]


class ApiDocsView(TemplateView):
    template_name = "datasets/api_docs.html"

    def get_context_data(self, **kwargs):
        schema = SchemaGenerator().get_schema(request=None, public=True)
        return super().get_context_data(
            info=schema.get("info", {}),
            groups=_operations(schema),
            objects=_objects(schema),
            **kwargs,
        )
