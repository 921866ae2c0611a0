"""Bad configuration never stops the service: every variable, every kind of bad value.

Policy (``azora_otel._settings``): warn and use the default. Each bad value yields
exactly one problem naming the variable and the value as given (``repr``), and
the field keeps its documented default. Property-based tests (hypothesis) check
that no input makes the parser, the telemetry build, or the label extraction
(route, method, SQL operation/model) raise or produce an unbounded label.
"""

from __future__ import annotations

import logging
import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azora_otel import Settings
from azora_otel._exchange import OTHER_METHOD, STANDARD_METHODS, normalize_method
from azora_otel._providers import build_metric_readers
from azora_otel._route_table import RouteTable
from azora_otel._routes import UNMATCHED_ROUTE, NativeRoutes
from azora_otel._sql import (
    MAX_LABEL_LENGTH,
    OPERATIONS,
    OTHER_OPERATION,
    normalize_model,
    normalize_operation,
    parse,
)
from azora_otel._telemetry import Telemetry
from azora_otel._variables import VARIABLES

DEFAULTS = Settings()
HUGE = "9" * 400  # parses as a float of 1e400 = inf, or an int far out of range

# variable -> (field, junk values that must each be rejected with the default kept)
BAD: dict[str, tuple[str, list[str]]] = {
    "PERF_API_LATENCY_MS": (
        "api_latency_ms",
        ["abc", "-5", "-0.0001", "0", "nan", "inf", "-inf", HUGE, "1e400", "100ms",
         "1,5", "0x10", "\x00", "1 00"],
    ),
    "PERF_DB_QUERY_MS": (
        "db_query_ms",
        ["abc", "-1", "0", "nan", "inf", HUGE, "50 ms", "fifty"],
    ),
    "PERF_ERROR_RATE": (
        "error_rate",
        ["abc", "-0.1", "1.5", "1.0000001", "5%", "nan", "inf", HUGE, "0.1.2"],
    ),
    "AZORA_METRICS_PATH": (
        "metrics_path",
        ["metrics", "/me trics", "/m?x=1", "/m#frag", "http://x/metrics", "/a\tb"],
    ),
    "AZORA_METRICS_PORT": (
        "metrics_port",
        ["http", "0", "-1", "65536", "70000", HUGE, "1.5", "80 80", "nan"],
    ),
    "AZORA_ERROR_RATE_WINDOW_S": (
        "error_rate_window_s",
        ["0", "-60", "1.5", "3601", HUGE, "1m", "nan"],
    ),
    "AZORA_LOG_FORMAT": ("log_format", ["xml", "jsonl", "TEXT,json", "\x00"]),
    "AZORA_FASTAPI_OPERATION_SPANS": (
        "fastapi_operation_spans",
        ["maybe", "2", "-1", "yes please", "enabled"],
    ),
    "AZORA_SAMPLING_GATE": ("sampling_gate", ["sometimes", "2", "off please", HUGE]),
    "AZORA_SPAN_ENCODER": ("span_encoder", ["fast", "AZORA,upstream", "\x00", HUGE]),
    "AZORA_METRICS_RECORDER": ("metrics_recorder", ["sdk", "azora,upstream", "\x00", HUGE]),
    "AZORA_SERVER_SPAN": ("server_span", ["native", "azora,fastapi", "\x00", HUGE]),
    "OTEL_SDK_DISABLED": ("sdk_disabled", ["perhaps", "2", "disabled", HUGE]),
    "OTEL_METRICS_EXPORTER": (
        "metrics_exporters",
        [" , ", ",", "junk", "prometheus2", HUGE],
    ),
    "OTEL_TRACES_EXPORTER": ("traces_exporters", ["junk", "jaeger", "zipkin2", HUGE]),
    "OTEL_METRIC_EXPORT_INTERVAL": (
        "metric_export_interval_ms",
        ["abc", "0", "-1000", "nan", "inf", HUGE, "1e12", "10s"],
    ),
    "AZORA_OTHER_METRICS": ("other_metrics", [" , ", ",,"]),
    "AZORA_OTHER_METRICS_LIMIT": ("other_metrics", ["0", "many", "20000", HUGE, "1.5"]),
    "OTEL_RESOURCE_ATTRIBUTES": ("resource_attributes", ["novalue", "=x", " , "]),
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": ("resource_detectors", ["junk", " , ", HUGE]),
    "OTEL_METRICS_EXEMPLAR_FILTER": ("exemplar_filter", ["junk", "trace-based", "on", HUGE]),
    "OTEL_EXPORTER_OTLP_PROTOCOL": ("traces_otlp_protocol", ["http", "http/json", "GRPC2", HUGE]),
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": ("traces_otlp_protocol", ["http", "udp"]),
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": ("metrics_otlp_protocol", ["http", "udp"]),
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER": (
        "credential_provider_signals", ["not-installed", HUGE],
    ),
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_TRACES_CREDENTIAL_PROVIDER": (
        "credential_provider_signals", ["not-installed"],
    ),
    "OTEL_PYTHON_EXPORTER_OTLP_HTTP_METRICS_CREDENTIAL_PROVIDER": (
        "credential_provider_signals", ["not-installed"],
    ),
    "OTEL_TRACES_SAMPLER": ("traces_sampler", ["junk", "jaeger_remote", "xray", HUGE]),
    "OTEL_TRACES_SAMPLER_ARG": ("traces_sampler_arg", ["x", "-0.1", "1.5", "nan", "inf", HUGE]),
}  # fmt: skip

CASES = [(name, raw) for name, (_, values) in BAD.items() for raw in values]


@pytest.mark.parametrize(("name", "raw"), CASES)
def test_every_bad_value_is_reported_by_name_and_value_and_defaulted(name: str, raw: str) -> None:
    field = BAD[name][0]
    parsed = Settings.from_env({name: raw})
    assert getattr(parsed, field) == getattr(DEFAULTS, field), (name, raw)
    assert len(parsed.problems) == 1, parsed.problems
    message = parsed.problems[0]
    assert message.startswith(f"invalid {name}={raw!r}")
    assert "using the default" in message


def test_the_table_covers_every_variable_with_a_value_to_validate() -> None:
    # Free-form values: any text is a valid name, host, list or URL.
    free_form = {
        "AZORA_METRICS_HOST",
        "OTEL_SERVICE_NAME",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_SEMCONV_STABILITY_OPT_IN",  # options of other instrumentations are valid too
        "OTEL_PYTHON_LOGGER_PROVIDER",  # the API resolves it, not the distro
    }
    # Checked where they are used: an unusable one locks the exposition instead of
    # falling back (tests/test_exposition_access.py).
    protection = {
        "AZORA_METRICS_TOKEN",
        "AZORA_METRICS_TOKEN_FILE",
        "AZORA_METRICS_ALLOWED_NETWORKS",
    }
    assert {row.name for row in VARIABLES} - free_form - protection == set(BAD)


def test_all_bad_at_once_every_one_reported_and_the_distro_still_builds() -> None:
    env = {name: values[0] for name, (_, values) in BAD.items()}
    parsed = Settings.from_env(env)
    assert len(parsed.problems) == len(BAD)
    for name in BAD:
        assert sum(p.startswith(f"invalid {name}=") for p in parsed.problems) == 1
    assert parsed == DEFAULTS
    telemetry = Telemetry.build(parsed)
    telemetry.shutdown()


def test_unknown_exporter_among_known_ones_keeps_the_known_ones() -> None:
    parsed = Settings.from_env({"OTEL_METRICS_EXPORTER": "prometheus,junk,otlp"})
    assert parsed.metrics_exporters == ("prometheus", "otlp")
    assert len(parsed.problems) == 1
    assert "'junk'" in parsed.problems[0]
    assert "ignoring it" in parsed.problems[0]


def test_unknown_traces_exporter_with_an_endpoint_falls_back_to_otlp() -> None:
    parsed = Settings.from_env(
        {"OTEL_TRACES_EXPORTER": "jaeger", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}
    )
    assert parsed.traces_exporters == ("otlp",)
    assert "OTEL_TRACES_EXPORTER='jaeger'" in parsed.problems[0]


def test_huge_free_form_values_are_taken_as_they_are() -> None:
    name = "s" * 100_000
    parsed = Settings.from_env(
        {"OTEL_SERVICE_NAME": name, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "," * 10_000}
    )
    assert parsed.service_name == name
    assert parsed.disabled_instrumentations == frozenset()
    assert parsed.problems == ()


def test_valid_export_interval_reaches_the_periodic_reader() -> None:
    parsed = Settings.from_env(
        {
            "OTEL_METRIC_EXPORT_INTERVAL": "250",
            "OTEL_METRICS_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        }
    )
    assert parsed.metric_export_interval_ms == 250
    readers, _ = build_metric_readers(parsed)
    try:
        intervals = [getattr(r, "_export_interval_millis", None) for r in readers]
        assert 250 in intervals
    finally:
        for reader in readers:
            reader.shutdown(timeout_millis=100)


def test_configure_logs_each_problem_on_the_azora_logger(
    azora_records: list[logging.LogRecord],
) -> None:
    import azora_otel

    settings_ = Settings.from_env({"PERF_API_LATENCY_MS": "-1", "OTEL_SDK_DISABLED": "true"})
    azora_otel.configure(settings_, set_global_providers=False)
    errors = [r for r in azora_records if getattr(r, "azora", {}).get("event") == "config_error"]
    assert len(errors) == 1
    assert "PERF_API_LATENCY_MS='-1'" in errors[0].getMessage()


# -- properties --------------------------------------------------------------------

_text = st.text(max_size=40) | st.sampled_from(["", " ", "0", "-1", "1e400", "nan", "inf", HUGE])
_variables = st.sampled_from(sorted({*BAD, "AZORA_METRICS_HOST", "OTEL_SERVICE_NAME"}))


@given(st.dictionaries(_variables, _text, max_size=6))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_property_parser_never_raises_and_names_every_rejected_value(env: dict[str, str]) -> None:
    parsed = Settings.from_env(env)
    for message in parsed.problems:
        name = message.split("=", 1)[0].removeprefix("invalid ")
        assert name in env
        assert message.startswith(f"invalid {name}={env[name]!r}")
    # Every numeric field holds a usable value, whatever came in.
    assert math.isfinite(parsed.api_latency_ms)
    assert parsed.api_latency_ms > 0
    assert parsed.db_query_ms > 0
    assert 0 <= parsed.error_rate <= 1
    assert 1 <= parsed.error_rate_window_s <= 3600
    assert 0 < parsed.metric_export_interval_ms <= 86_400_000
    assert parsed.metrics_port is None or 1 <= parsed.metrics_port <= 65535
    assert parsed.log_format in {"text", "json", "off"}
    assert parsed.metrics_path is None or parsed.metrics_path.startswith("/")


@given(
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**30), max_value=10**30)
)
@settings(max_examples=300)
def test_property_numbers_are_accepted_exactly_when_in_range(value: float) -> None:
    raw = repr(value) if isinstance(value, float) else str(value)
    parsed = Settings.from_env({"PERF_API_LATENCY_MS": raw, "PERF_ERROR_RATE": raw})
    number = float(raw)
    latency_ok = math.isfinite(number) and number > 0
    rate_ok = math.isfinite(number) and 0 <= number <= 1
    assert parsed.api_latency_ms == (number if latency_ok else DEFAULTS.api_latency_ms)
    assert parsed.error_rate == (number if rate_ok else DEFAULTS.error_rate)
    assert len(parsed.problems) == (not latency_ok) + (not rate_ok)


@given(st.dictionaries(_variables, _text, max_size=4))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_property_the_distro_builds_from_any_environment(env: dict[str, str]) -> None:
    env.pop("OTEL_TRACES_EXPORTER", None)  # console would print spans; covered above
    telemetry = Telemetry.build(Settings.from_env(env))
    telemetry.meter_provider.shutdown(timeout_millis=100)


# -- label extraction ----------------------------------------------------------------


class _Record:
    def __init__(self, route: object) -> None:
        self.route = route


_anything = st.none() | st.integers() | st.text(max_size=20) | st.binary(max_size=10)


@given(record=st.none() | st.builds(_Record, _anything) | _anything)
def test_property_native_route_label_is_a_template_string_or_unmatched(record: object) -> None:
    label = NativeRoutes.label({}, record)
    assert isinstance(label, str)
    assert label
    if not isinstance(record, _Record) or not isinstance(record.route, str):
        assert label == UNMATCHED_ROUTE


def _small_app() -> object:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> int:
        return item_id

    return app


_TABLE = RouteTable(_small_app())


@given(route=_anything, endpoint=_anything, root=_anything, path=_anything)
def test_property_route_table_label_never_fails_on_odd_scopes(
    route: object, endpoint: object, root: object, path: object
) -> None:
    scope = {"route": route, "endpoint": endpoint, "root_path": "", "path": path}
    token = _TABLE.begin(scope)
    scope["root_path"] = root
    label = _TABLE.label(scope, token)
    assert label == UNMATCHED_ROUTE  # none of these objects is a route of the app


@given(st.text(max_size=300) | st.binary(max_size=50) | st.none() | st.integers())
def test_property_method_label_is_standard_or_other(method: object) -> None:
    label = normalize_method(method)
    assert label in STANDARD_METHODS or label == OTHER_METHOD
    if isinstance(method, str) and method in STANDARD_METHODS:
        assert label == method


_sql_words = st.sampled_from(
    ["select", "insert", "into", "from", "update", "delete", "with", "as", "(", ")", ",", ";",
     "'", '"', "`", "[", "]", "--", "/*", "*/", "join", "where", "values", "set", "table", "."]
)  # fmt: skip
_identifiers = st.text(alphabet=string.ascii_letters + '_$."`[]', min_size=1, max_size=80)


@given(st.lists(_sql_words | _identifiers | st.text(max_size=10), max_size=40))
@settings(max_examples=300)
def test_property_sql_labels_are_bounded(parts: list[str]) -> None:
    operation, model = parse(" ".join(parts))
    assert operation in OPERATIONS or operation == OTHER_OPERATION
    assert isinstance(model, str)
    assert 0 < len(model) <= MAX_LABEL_LENGTH
    assert model.isprintable()


@given(_anything, _anything)
def test_property_manual_labels_are_bounded(operation: object, model: object) -> None:
    assert normalize_operation(operation) in OPERATIONS | {OTHER_OPERATION}
    label = normalize_model(model)
    assert isinstance(label, str)
    assert 0 < len(label) <= MAX_LABEL_LENGTH
