"""A service with no monitoring code, for the launcher's end-to-end tests."""

from __future__ import annotations

import asyncio
import os

from fastapi import FastAPI, HTTPException

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders/{order_id}")
async def get_order(order_id: int) -> dict[str, int]:
    return {"id": order_id}


@app.post("/orders", status_code=201)
def create_order() -> dict[str, str]:
    return {"status": "created"}


@app.get("/slow")
async def slow(ms: int = 150) -> dict[str, int]:
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@app.get("/fail")
async def fail() -> None:
    raise RuntimeError("unhandled")


@app.get("/teapot")
async def teapot() -> None:
    raise HTTPException(status_code=418)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning")
