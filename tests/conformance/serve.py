"""One corpus layout as a real service: ``uvicorn serve:app --factory`` with
``CORPUS_LAYOUT=<name>``. Pauses are real sleeps, capped at 3 s so that the 10 s
background task of the corpus does not hold up the server's shutdown."""

from __future__ import annotations

import asyncio
import os

from corpus import LAYOUTS
from fastapi import FastAPI

MAX_PAUSE_MS = 3000.0


async def pause(ms: float) -> None:
    await asyncio.sleep(min(ms, MAX_PAUSE_MS) / 1000)


def app() -> FastAPI:
    (layout,) = [layout for layout in LAYOUTS if layout.name == os.environ["CORPUS_LAYOUT"]]
    return layout.build(pause)
