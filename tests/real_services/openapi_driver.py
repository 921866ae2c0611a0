"""Drive a service through its own OpenAPI schema: one request per operation.

Parameters get plain values of their declared type (a fresh UUID for ``format: uuid``);
bodies are ``{}``. Many requests fail validation or find nothing (422, 404): that is
fine, every status is something the client received and the service counted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

BODY_METHODS = {"post", "put", "patch"}


@dataclass(frozen=True)
class Sent:
    method: str
    path: str
    """The path as sent (concrete values)."""
    template: str
    """The operation's path template in the schema, below the schema's server URL."""
    status: int


def value_for(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if kind in ("integer", "number"):
        return "1"
    if kind == "boolean":
        return "true"
    if schema.get("enum"):
        return str(schema["enum"][0])
    return "azora-check"


def operations(
    spec: Mapping[str, Any], skip: Iterable[str] = ()
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, template, operation) of every operation whose path contains none of
    ``skip``."""
    for template, item in spec["paths"].items():
        if any(part in template for part in skip):
            continue
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), template, operation


def build_request(template: str, operation: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    path = template
    query: dict[str, str] = {}
    for param in operation.get("parameters", []):
        value = value_for(param.get("schema", {}))
        if param.get("in") == "path":
            path = path.replace("{" + param["name"] + "}", value)
        elif param.get("in") == "query" and param.get("required"):
            query[param["name"]] = value
    return path, query


def drive(
    client: httpx.Client, spec: Mapping[str, Any], prefix: str, skip: Iterable[str] = ()
) -> list[Sent]:
    """One request per operation of ``spec`` (served below ``prefix``)."""
    sent = []
    for method, template, operation in operations(spec, skip):
        path, query = build_request(template, operation)
        body = {} if method.lower() in BODY_METHODS else None
        response = client.request(method, prefix + path, params=query, json=body)
        sent.append(Sent(method, prefix + path, template, response.status_code))
    return sent
