"""The demo: the shop service under ``azora-otel-instrument``, real traffic, what to look at.

    python examples/demo.py [--keep-running] [--port N]

Starts ``examples/shop/app.py`` with uvicorn under the distro (embedded defaults:
no collector, no Prometheus), sends a mix of normal, slow, failing and junk
requests, then prints the metrics and the threshold-violation logs it produced.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from azora_otel.testing import free_port

SHOP = Path(__file__).resolve().parent / "shop"


def request(base: str, method: str, path: str, body: dict[str, object] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited with code {process.returncode}")
        try:
            if request(base, "GET", "/health") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the service did not answer /health within 30 s")


def drive(base: str) -> dict[str, int]:
    plan: list[tuple[str, str, dict[str, object] | None]] = []
    plan += [
        ("POST", "/orders", {"customer_id": 1 + i % 2, "item": f"item-{i}"}) for i in range(10)
    ]
    plan += [("GET", f"/orders/{i}", None) for i in range(1, 16)]  # 11-15 do not exist: 404
    plan += [("GET", "/orders", None)] * 5
    plan += [("GET", "/customers/1/orders", None)] * 5
    plan += [("POST", "/orders", {"customer_id": 99, "item": "x"})]  # unknown customer: 404
    plan += [("GET", "/reports/daily?delay_ms=180", None)] * 3  # slow requests
    plan += [("GET", "/reports/forecast?horizon=10", None)] * 2  # a cheap query
    plan += [("GET", "/reports/forecast?horizon=50000", None)] * 2  # a slow query (> 50 ms)
    plan += [("GET", f"/payments/{i}", None) for i in range(2)]  # unhandled exceptions: 500
    plan += [("GET", p, None) for p in ("/wp-login.php", "/.env", "/admin/../etc/passwd")]
    plan += [("BREW", "/orders", None), ("PROPFIND", "/orders/1", None)]
    statuses: dict[str, int] = {}
    for method, path, body in plan:
        status = request(base, method, path, body)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return statuses


def summarize(exposition: str) -> list[str]:
    lines = []
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
            value = sample.value
            shown = f"{value:.4f}" if sample.name == "http_error_rate" else f"{value:g}"
            if sample.name.endswith("_sum"):
                shown = f"{value:.1f}"
            lines.append(f"  {sample.name}{{{labels}}} {shown}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=0, help="port for the service (default: a free one)"
    )
    parser.add_argument(
        "--keep-running", action="store_true", help="leave the service running until Ctrl-C"
    )
    args = parser.parse_args()

    launcher = shutil.which("azora-otel-instrument") or str(
        Path(sys.executable).parent / "azora-otel-instrument"
    )
    port = args.port or free_port()
    base = f"http://127.0.0.1:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="azora-demo-"))
    log_path = workdir / "service.log"
    env = {
        **os.environ,
        "OTEL_SERVICE_NAME": "shop",
        "DATABASE_URL": f"sqlite:///{workdir / 'shop.db'}",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        launcher,
        sys.executable,
        "-m",
        "uvicorn",
        "app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    print(f"==> starting the shop service: {' '.join(command[1:])}", flush=True)
    print(f"    (cwd {SHOP}, logs in {log_path})", flush=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=SHOP, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(base, process)
        print(
            f"==> service ready at {base}; sending traffic (normal, slow, failing, junk)",
            flush=True,
        )
        statuses = drive(base)
        print(
            "    responses by status: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        )
        with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
            exposition = response.read().decode()
        print(f"\n==> GET {base}/metrics (buckets left out here):")
        print("\n".join(summarize(exposition)))
        time.sleep(0.3)
        print("\n==> threshold-violation logs from the service (logger azora_otel):")
        for line in log_path.read_text().splitlines():
            if " azora_otel " in line and line[:4].isdigit():
                print("  " + line)
        print(
            "\n==> what to look at:\n"
            "  * http_requests_total: every request, by route template (never the raw path);\n"
            '    junk paths share route="unmatched", odd methods are method="_OTHER".\n'
            "  * slow_requests_total / slow_queries_total: over PERF_API_LATENCY_MS (100 ms) /\n"
            "    PERF_DB_QUERY_MS (50 ms); each one is logged, with trace/span ids when\n"
            "    tracing is on.\n"
            "  * http_error_rate: 5xx and unhandled exceptions over the last 60 s, against\n"
            "    PERF_ERROR_RATE (0.1 %): logged once when crossed and once when recovered.\n"
            "  * db_queries_total / db_query_duration_ms: every SQL statement, by operation\n"
            "    and table."
        )
        if args.keep_running:
            print(f"\n==> still running: curl {base}/metrics   (Ctrl-C to stop)", flush=True)
            process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
