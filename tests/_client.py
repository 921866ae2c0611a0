"""Drive an ASGI app in process (no server), the way the tests need it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx


def run_requests(app: Any, requests: Iterable[tuple[str, str]]) -> list[int]:
    """Send ``(method, path)`` requests in order; returns the status codes."""

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [(await client.request(method, path)).status_code for method, path in requests]

    return asyncio.run(main())


def get(app: Any, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, headers=headers)

    return asyncio.run(main())


def families(text: str) -> dict[str, Any]:
    """Metric families of a Prometheus text exposition, by name."""
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}
