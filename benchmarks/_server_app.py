"""The app served by uvicorn in ``bench_uvicorn.py``: ``BENCH_VARIANT`` picks the variant."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from variants import build

app, _flush, _series = build(os.environ.get("BENCH_VARIANT", "bare"))
