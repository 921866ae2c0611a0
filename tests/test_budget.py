"""`azora-otel budget`: quantile math, verdicts, exit codes; real Prometheus and /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stack import free_port, run_prometheus, wait_for

from azora_otel._ops.cli import main
from azora_otel._ops.readings import (
    bucket_counts,
    histogram_quantile,
    metrics_readings,
    parse_samples,
    prometheus_readings,
    verdict,
)
from azora_otel._ops.targets import DEFAULT_TARGETS, Budget

INF = float("inf")


# ---------------------------------------------------------------- quantile math


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        # all 100 observations in (50, 100]: linear inside the bucket
        (0.5, [(10, 0), (50, 0), (100, 100), (INF, 100)], 75.0),
        (0.95, [(10, 0), (50, 0), (100, 100), (INF, 100)], 97.5),
        # rank 95 of 100; 90 <= 100, 10 in (100, 200] -> 100 + 100 * 5 / 10
        (0.95, [(50, 0), (100, 90), (200, 100), (INF, 100)], 150.0),
        # the lowest bucket starts at 0
        (0.5, [(10, 100), (50, 100), (INF, 100)], 5.0),
        # rank in the +Inf bucket -> the highest finite bound
        (0.99, [(10, 0), (5000, 90), (INF, 100)], 5000.0),
        # order of input does not matter
        (0.5, [(INF, 4), (20, 4), (10, 2)], 10.0),
    ],
)
def test_histogram_quantile_interpolates_like_promql(q, buckets, expected):
    assert histogram_quantile(q, buckets) == pytest.approx(expected)


@pytest.mark.parametrize("buckets", [[], [(10, 0), (INF, 0)], [(10, 5), (100, 5)], [(INF, 3)]])
def test_histogram_quantile_no_data(buckets):
    assert histogram_quantile(0.5, buckets) is None


def test_verdicts():
    b = Budget("p95", target=100, warning=150, critical=200)
    assert [verdict(v, b) for v in (10, 100, 150, 150.1, 200, 200.1, None)] == [
        "OK",
        "OK",
        "OK",
        "WARN",
        "WARN",
        "CRIT",
        "NO DATA",
    ]


def test_parse_and_sum_buckets_over_labels():
    text = (
        "# HELP x_bucket help\n# TYPE x histogram\n"
        'x_bucket{route="/a",le="10.0",otel_scope_name="s"} 1\n'
        'x_bucket{route="/b \\"q\\"",le="10.0"} 2\n'
        'x_bucket{route="/a",le="+Inf"} 4 1700000000000\n'
        'x_bucket{route="/b \\"q\\"",le="+Inf"} 4\n'
        "x_count 8\n"
    )
    samples = list(parse_samples(text))
    assert samples[1].labels["route"] == '/b "q"'
    assert bucket_counts(samples, "x") == [(10.0, 3.0), (INF, 8.0)]


# ------------------------------------------------------------ test expositions

HTTP_LE = ("10", "50", "100", "200", "500", "1000", "2000", "5000", "+Inf")
DB_LE = ("5", "10", "25", "50", "100", "250", "500", "1000", "+Inf")

# job -> (http cumulative buckets, db cumulative buckets, {status_code: count}), per "unit".
# Expected quantiles by hand: all n observations in (L, U] -> L + (U - L) * q.
SERVICES = {
    # API all in (10, 50]; DB all in (5, 10]; no errors -> everything OK
    "svc-good": ({"10": 0, "50": 100}, {"5": 0, "10": 100}, {"200": 1000}),
    # DB all in (25, 50] -> P50 37.5 > 25 (WARN), P95 48.75, P99 49.75 (OK)
    "svc-warn": ({"10": 0, "50": 100}, {"25": 0, "50": 100}, {"200": 1000}),
    # DB all in (100, 250] -> P50 175, P95 242.5 (CRIT), P99 248.5 (WARN); 5xx 0.5 % (WARN)
    "svc-bad": ({"10": 0, "50": 100}, {"100": 0, "250": 100}, {"200": 9900, "404": 50, "500": 50}),
}


def exposition(scale: int, services=SERVICES, with_job=True, suffix="") -> str:
    lines = []
    for job, (http, db, codes) in services.items():
        job_label = f'job="{job}",' if with_job else ""
        for metric, les, cum in (
            (f"http_request_duration_ms{suffix}", HTTP_LE, http),
            (f"db_query_duration_ms{suffix}", DB_LE, db),
        ):
            # split each bucket over two label sets to check the sum over labels
            count = 0
            for le in les:
                count = cum.get(le, count)
                for part, route in ((count // 2, "/a"), (count - count // 2, "/b")):
                    lines.append(
                        f'{metric}_bucket{{{job_label}route="{route}",le="{le}"}} {part * scale}'
                    )
        for code, n in codes.items():
            lines.append(f'http_requests_total{{{job_label}status_code="{code}"}} {n * scale}')
        lines.append(f'slow_requests_total{{{job_label}method="GET",route="/a"}} {scale}')
        lines.append(f'slow_queries_total{{{job_label}operation="select",model="t"}} {scale}')
    return "\n".join(lines) + "\n"


@contextmanager
def serve(render) -> Iterator[str]:
    """Serve ``render(n)`` (n = how many times it was fetched) at /metrics on a free port."""
    fetched = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            fetched[0] += 1
            body = render(fetched[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _expected(job: str) -> dict[tuple[str, str], float]:
    def q_in(lower: float, upper: float, q: float) -> float:
        return lower + (upper - lower) * q

    db_bounds = {"svc-good": (5, 10), "svc-warn": (25, 50), "svc-bad": (100, 250)}[job]
    out = {}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        out["API latency", name] = q_in(10, 50, q)
        out["DB query", name] = q_in(*db_bounds, q)
    out["Error rate", "error_rate"] = 0.005 if job == "svc-bad" else 0.0
    return out


def _table_verdicts(text: str) -> list[str]:
    return [line.rsplit("  ", 1)[-1].strip() for line in text.splitlines()[1:]]


# ---------------------------------------------------------------------- /metrics


@pytest.mark.parametrize("suffix", ["", "_milliseconds"])
def test_metrics_url_end_to_end(capsys, suffix):
    services = {"svc-bad": SERVICES["svc-bad"]}
    with serve(lambda n: exposition(3, services, with_job=False, suffix=suffix)) as address:
        code = main(["budget", "--metrics-url", f"http://{address}/metrics"])
        out = capsys.readouterr().out
        assert code == 1, out
        assert "CRIT" in out
        readings = metrics_readings(exposition(3, services, False, suffix), DEFAULT_TARGETS)
    expected = _expected("svc-bad")
    assert {(r.group, r.budget.metric): r.value for r in readings} == pytest.approx(expected)
    verdicts = [r.verdict for r in readings]
    assert verdicts == ["OK", "OK", "OK", "CRIT", "CRIT", "WARN", "WARN"]
    assert _table_verdicts(out) == verdicts


def test_metrics_url_without_traffic_is_no_data(capsys):
    with serve(lambda n: "# nothing yet\n") as address:
        assert main(["budget", "--metrics-url", f"http://{address}/metrics"]) == 0
        assert set(_table_verdicts(capsys.readouterr().out)) == {"NO DATA"}
        url = f"http://{address}/metrics"
        assert main(["budget", "--metrics-url", url, "--require-data"]) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--metrics-url", "ftp://127.0.0.1/metrics"],
        ["--metrics-url", f"http://127.0.0.1:{free_port()}/metrics"],
        ["--prometheus", f"http://127.0.0.1:{free_port()}"],
    ],
)
def test_connection_and_url_errors_exit_2(capsys, args):
    assert main(["budget", *args]) == 2
    assert "azora-otel budget:" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["budget"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["budget", "--prometheus", "http://x", "--window", "five"])
    assert exc.value.code == 2


# -------------------------------------------------------------------- Prometheus


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A real Prometheus scraping a growing exposition of three services every second."""
    with (
        serve(exposition) as address,
        run_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_targets=[address]) as prom,
    ):
        query = 'count(rate(http_requests_total{job="svc-bad"}[1m]) > 0)'

        def has_rates() -> bool:
            return bool(prom.query(query))

        wait_for(has_rates, 30, "rates in Prometheus")
        yield prom


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("job", "fail_on", "code"),
    [
        ("svc-good", "critical", 0),
        ("svc-good", "warning", 0),
        ("svc-warn", "critical", 0),
        ("svc-warn", "warning", 1),
        ("svc-bad", "critical", 1),
    ],
)
def test_prometheus_end_to_end(prometheus, capsys, job, fail_on, code):
    args = ["budget", "--prometheus", prometheus.url, "--job", job, "--window", "1m"]
    assert main([*args, "--fail-on", fail_on]) == code
    out = capsys.readouterr().out
    assert all(line.startswith(job) for line in out.splitlines()[1:]), out

    readings = prometheus_readings(prometheus.url, DEFAULT_TARGETS, job, "1m")
    values = {(r.group, r.budget.metric): r.value for r in readings}
    assert values == pytest.approx(_expected(job))


@pytest.mark.e2e
def test_prometheus_all_jobs(prometheus):
    readings = prometheus_readings(prometheus.url, DEFAULT_TARGETS, None, "1m")
    assert sorted({r.job for r in readings}) == sorted(SERVICES)
    for job in SERVICES:
        got = {(r.group, r.budget.metric): r.value for r in readings if r.job == job}
        assert got == pytest.approx(_expected(job))


@pytest.mark.e2e
def test_prometheus_unknown_job_is_no_data(prometheus, capsys):
    args = ["budget", "--prometheus", prometheus.url, "--job", "nope"]
    assert main(args) == 0
    assert set(_table_verdicts(capsys.readouterr().out)) == {"NO DATA"}
