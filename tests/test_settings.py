"""Every variable the distro reads: defaults, valid values, and each kind of bad value."""

from __future__ import annotations

import math
import re
from dataclasses import fields, replace

import pytest

from azora_otel import Settings
from azora_otel._variables import VARIABLES

DEFAULTS = Settings()


def test_defaults_match_the_specification() -> None:
    settings = Settings.from_env({})
    assert settings.api_latency_ms == 100
    assert settings.db_query_ms == 50
    assert settings.error_rate == 0.001
    assert settings.metrics_path == "/metrics"
    assert settings.metrics_port is None
    assert settings.metrics_exporters == ("prometheus",)
    assert settings.traces_exporters == ()
    assert settings.log_format == "text"
    assert settings.error_rate_window_s == 60
    assert settings.sampling_gate is True
    assert settings.span_encoder == "azora"
    assert settings.metrics_recorder == "azora"
    assert settings.server_span == "azora"
    assert settings.problems == ()


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"PERF_API_LATENCY_MS": "150"}, "api_latency_ms", 150.0),
        ({"PERF_API_LATENCY_MS": " 12.5 "}, "api_latency_ms", 12.5),
        ({"PERF_DB_QUERY_MS": "20"}, "db_query_ms", 20.0),
        ({"PERF_ERROR_RATE": "0.05"}, "error_rate", 0.05),
        ({"PERF_ERROR_RATE": "0"}, "error_rate", 0.0),
        ({"PERF_ERROR_RATE": "1"}, "error_rate", 1.0),
        ({"AZORA_METRICS_PATH": "/internal/metrics"}, "metrics_path", "/internal/metrics"),
        ({"AZORA_METRICS_PATH": "off"}, "metrics_path", None),
        ({"AZORA_METRICS_PORT": "9464"}, "metrics_port", 9464),
        ({"AZORA_METRICS_PORT": "9464"}, "metrics_path", None),
        ({"AZORA_METRICS_HOST": "0.0.0.0"}, "metrics_host", "0.0.0.0"),
        ({"AZORA_ERROR_RATE_WINDOW_S": "300"}, "error_rate_window_s", 300),
        ({"AZORA_LOG_FORMAT": "JSON"}, "log_format", "json"),
        ({"AZORA_FASTAPI_OPERATION_SPANS": "true"}, "fastapi_operation_spans", True),
        ({"OTEL_SDK_DISABLED": "true"}, "sdk_disabled", True),
        ({"AZORA_SAMPLING_GATE": "false"}, "sampling_gate", False),
        ({"AZORA_SPAN_ENCODER": "Upstream"}, "span_encoder", "upstream"),
        ({"AZORA_METRICS_RECORDER": " upstream"}, "metrics_recorder", "upstream"),
        ({"AZORA_SERVER_SPAN": "FastAPI"}, "server_span", "fastapi"),
        ({"OTEL_SERVICE_NAME": "orders"}, "service_name", "orders"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=b,service.name=billing"}, "service_name", "billing"),
        (
            {"OTEL_SERVICE_NAME": "orders", "OTEL_RESOURCE_ATTRIBUTES": "service.name=x"},
            "service_name",
            "orders",
        ),
        ({"OTEL_METRICS_EXPORTER": "otlp"}, "metrics_exporters", ("otlp",)),
        (
            {"OTEL_METRICS_EXPORTER": "prometheus, otlp"},
            "metrics_exporters",
            ("prometheus", "otlp"),
        ),
        ({"OTEL_METRICS_EXPORTER": "none"}, "metrics_exporters", ()),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "traces_exporters", ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "none"}, "traces_exporters", ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, "traces_exporters", ("otlp",)),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_TRACES_EXPORTER": "none"},
            "traces_exporters",
            (),
        ),
        (
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "fastapi , sqlalchemy"},
            "disabled_instrumentations",
            frozenset({"fastapi", "sqlalchemy"}),
        ),
    ],
)
def test_valid_values(env: dict[str, str], field: str, expected: object) -> None:
    settings = Settings.from_env(env)
    assert getattr(settings, field) == expected
    assert settings.problems == ()


BAD_VALUES = [
    # variable, bad value, field, what the message must say is expected
    ("PERF_API_LATENCY_MS", "abc", "api_latency_ms", "positive number"),
    ("PERF_API_LATENCY_MS", "-5", "api_latency_ms", "positive number"),
    ("PERF_API_LATENCY_MS", "0", "api_latency_ms", "positive number"),
    ("PERF_API_LATENCY_MS", "nan", "api_latency_ms", "positive number"),
    ("PERF_API_LATENCY_MS", "inf", "api_latency_ms", "positive number"),
    ("PERF_API_LATENCY_MS", "1e400", "api_latency_ms", "positive number"),
    ("PERF_DB_QUERY_MS", "abc", "db_query_ms", "positive number"),
    ("PERF_DB_QUERY_MS", "-1", "db_query_ms", "positive number"),
    ("PERF_ERROR_RATE", "abc", "error_rate", "between 0 and 1"),
    ("PERF_ERROR_RATE", "-0.1", "error_rate", "between 0 and 1"),
    ("PERF_ERROR_RATE", "1.5", "error_rate", "between 0 and 1"),
    ("PERF_ERROR_RATE", "5%", "error_rate", "between 0 and 1"),
    ("AZORA_METRICS_PATH", "metrics", "metrics_path", "absolute path"),
    ("AZORA_METRICS_PATH", "/me trics", "metrics_path", "absolute path"),
    ("AZORA_METRICS_PORT", "http", "metrics_port", "whole number from 1 to 65535"),
    ("AZORA_METRICS_PORT", "70000", "metrics_port", "whole number from 1 to 65535"),
    ("AZORA_METRICS_PORT", "0", "metrics_port", "whole number from 1 to 65535"),
    ("AZORA_ERROR_RATE_WINDOW_S", "0", "error_rate_window_s", "whole number from 1 to 3600"),
    ("AZORA_ERROR_RATE_WINDOW_S", "1.5", "error_rate_window_s", "whole number from 1 to 3600"),
    ("AZORA_LOG_FORMAT", "xml", "log_format", "one of text, json, off"),
    ("AZORA_FASTAPI_OPERATION_SPANS", "maybe", "fastapi_operation_spans", "true or false"),
    ("OTEL_SDK_DISABLED", "perhaps", "sdk_disabled", "true or false"),
    ("AZORA_SAMPLING_GATE", "sometimes", "sampling_gate", "true or false"),
    ("AZORA_SPAN_ENCODER", "fast", "span_encoder", "one of azora, upstream"),
    ("AZORA_METRICS_RECORDER", "sdk", "metrics_recorder", "one of azora, upstream"),
    ("AZORA_SERVER_SPAN", "native", "server_span", "one of azora, fastapi"),
    ("OTEL_METRICS_EXPORTER", " , ", "metrics_exporters", "comma-separated list"),
]


@pytest.mark.parametrize(("name", "raw", "field", "expected"), BAD_VALUES)
def test_bad_values_warn_name_the_variable_and_fall_back(
    name: str, raw: str, field: str, expected: str
) -> None:
    settings = Settings.from_env({name: raw})
    assert getattr(settings, field) == getattr(DEFAULTS, field)
    assert len(settings.problems) == 1
    message = settings.problems[0]
    assert name in message
    assert repr(raw) in message
    assert expected in message
    assert "using the default" in message


def test_every_perf_and_azora_variable_is_covered_by_the_bad_value_table() -> None:
    documented = {row.name for row in VARIABLES if row.name.startswith(("PERF_", "AZORA_"))}
    elsewhere = {
        "AZORA_METRICS_HOST",  # any address: nothing to reject
        # an unusable protection locks the exposition: tests/test_exposition_access.py
        "AZORA_METRICS_TOKEN",
        "AZORA_METRICS_TOKEN_FILE",
        "AZORA_METRICS_ALLOWED_NETWORKS",
        # tests/test_other_metrics.py
        "AZORA_OTHER_METRICS",
        "AZORA_OTHER_METRICS_LIMIT",
    }
    assert documented - {row[0] for row in BAD_VALUES} == elsewhere


PROTECTION = {"AZORA_METRICS_TOKEN", "AZORA_METRICS_TOKEN_FILE", "AZORA_METRICS_ALLOWED_NETWORKS"}


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
@pytest.mark.parametrize(
    "row", [r for r in VARIABLES if r.name not in PROTECTION], ids=lambda r: r.name
)
def test_an_empty_value_is_unset_for_every_variable(row: object, blank: str) -> None:
    """OpenTelemetry's rule, for every variable: empty (or blank) is the same as unset."""
    name = row.name  # type: ignore[attr-defined]
    assert Settings.from_env({name: blank}) == DEFAULTS
    assert Settings.from_env({name: blank}).problems == ()
    # ... also next to a value that changes the default (an OTLP endpoint).
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}
    if name != "OTEL_EXPORTER_OTLP_ENDPOINT":
        assert Settings.from_env({**endpoint, name: blank}) == Settings.from_env(endpoint)


@pytest.mark.parametrize("name", sorted(PROTECTION))
def test_an_empty_protection_variable_locks_the_exposition(name: str) -> None:
    """The one exception: for these, unset means unprotected, so a blank value (a secret
    that did not arrive) locks the exposition instead of opening it."""
    settings = Settings.from_env({name: ""})
    assert settings.metrics_access.locked
    (problem,) = settings.problems
    assert problem.startswith(f"invalid {name}")


def test_several_bad_values_are_all_reported() -> None:
    settings = Settings.from_env({"PERF_API_LATENCY_MS": "x", "PERF_ERROR_RATE": "2"})
    assert len(settings.problems) == 2
    assert settings.api_latency_ms == 100
    assert settings.error_rate == 0.001


def test_every_variable_is_in_the_launcher_help_with_its_default() -> None:
    from azora_otel._launcher import USAGE

    for row in VARIABLES:
        assert f"  {row.name} (" in USAGE
    assert "  PERF_API_LATENCY_MS (default 100)\n" in USAGE
    assert "  AZORA_METRICS_PORT (unset by default)\n" in USAGE


def test_defaults_of_the_dataclass_are_those_of_an_empty_environment() -> None:
    assert Settings() == Settings.from_env({})


def test_every_field_is_fed_by_a_variable_and_every_variable_feeds_a_field() -> None:
    fed = {name for row in VARIABLES for name in row.fields}
    names = {f.name for f in fields(Settings)} - {"problems"}
    assert fed == names
    assert len({row.name for row in VARIABLES}) == len(VARIABLES)


# -- Settings built in code ------------------------------------------------------------

# field -> values no variable could give; each must raise ValueError naming the field,
# the value and what was expected.
BAD_FIELDS: dict[str, list[object]] = {
    "api_latency_ms": [0, -1.0, math.nan, math.inf, "100", True, None],
    "db_query_ms": [0.0, -50, math.inf, "50"],
    "error_rate": [-0.1, 1.5, math.nan, "0.1"],
    "service_name": ["", " padded ", None, 3],
    "metrics_path": ["metrics", "/a b", "/m?x", "", 5],
    "metrics_port": [0, 65536, "9464", 9464.0, True],
    "metrics_host": ["", " ", None],
    "error_rate_window_s": [0, 3601, 1.5, "60", True],
    "log_format": ["xml", "TEXT", None, ["text"]],
    "fastapi_operation_spans": [1, "true", None],
    "sampling_gate": [0, "false"],
    "span_encoder": ["fast", None],
    "metrics_recorder": ["sdk", None],
    "server_span": ["native", None],
    "sdk_disabled": ["true", 1],
    "traces_exporters": [("junk",), ["otlp"], ("otlp", "otlp"), "otlp", ("none",), (["otlp"],)],
    "metrics_exporters": [("prometheus2",), ["prometheus"], "prometheus"],
    "metric_export_interval_ms": [0, -1, 86_400_001, math.inf],
    "disabled_instrumentations": [{"fastapi"}, ("fastapi",), frozenset({" fastapi"})],
    "metrics_access": [None, "token"],
    "other_metrics": [None, "keep"],
    "resource_attributes": [{"a": "b"}, (("a",),), (("", "x"),), (("a", 1),)],
    "resource_detectors": [("junk",), ["process"], (["process"],)],
    "exemplar_filter": ["junk", "", True],
    "traces_otlp_protocol": ["http", None],
    "metrics_otlp_protocol": ["udp", None],
    "credential_provider_signals": [frozenset({"logs"}), {"traces"}, None],
    "traces_sampler": ["junk", None, {}],
    "traces_sampler_arg": [-0.1, 1.5, math.nan, None],
    "semconv_opt_in": ["database", {"database"}],
    "logger_provider": ["", 3],
}


@pytest.mark.parametrize(
    ("field", "value"), [(f, v) for f, values in BAD_FIELDS.items() for v in values]
)
def test_a_settings_built_in_code_with_a_bad_value_raises(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=r"^invalid Settings\.") as raised:
        Settings(**{field: value})
    message = str(raised.value)
    assert message.startswith(f"invalid Settings.{field}={value!r}: expected ")
    with pytest.raises(ValueError, match=f"invalid Settings.{field}="):
        replace(Settings(), **{field: value})


def test_every_field_is_covered_by_the_bad_field_table() -> None:
    assert set(BAD_FIELDS) == {f.name for f in fields(Settings)} - {"problems"}


def test_the_expectation_is_the_one_of_the_variable() -> None:
    with pytest.raises(ValueError, match=r"expected a whole number from 1 to 3600$"):
        Settings(error_rate_window_s=0)
    with pytest.raises(ValueError, match=r"expected a positive number of milliseconds$"):
        Settings(api_latency_ms=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_latency_ms": 1},  # an int is a number
        {"error_rate": 0},
        {"metrics_path": None, "metrics_port": 9464},
        {"metrics_port": 9464},  # in code, path and port are independent
        {"traces_exporters": ("otlp", "console"), "metrics_exporters": ()},
        {"disabled_instrumentations": frozenset({"fastapi"})},
        {"service_name": "orders"},
    ],
)
def test_good_values_built_in_code_are_kept(kwargs: dict[str, object]) -> None:
    settings = Settings(**kwargs)  # type: ignore[arg-type]
    assert all(getattr(settings, k) == v for k, v in kwargs.items())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": ""}, "invalid OtherMetrics.rule=''"),
        ({"rule": "a,,b"}, "invalid OtherMetrics.rule='a,,b'"),
        ({"limit": 0}, "invalid OtherMetrics.limit=0: expected a whole number from 1 to 10000"),
    ],
)
def test_other_metrics_built_in_code_checks_itself(kwargs: dict[str, object], message: str) -> None:
    from azora_otel._other_metrics import OtherMetrics

    with pytest.raises(ValueError, match=re.escape(message)):
        OtherMetrics(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"token": b""}, {"token": b"two words"}, {"token": "text"}, {"networks": ["10.0.0.0/8"]}],
)
def test_metrics_access_built_in_code_checks_itself(kwargs: dict[str, object]) -> None:
    from azora_otel._access import MetricsAccess

    with pytest.raises(ValueError, match=r"^invalid MetricsAccess\.") as raised:
        MetricsAccess(**kwargs)  # type: ignore[arg-type]
    assert "two words" not in str(raised.value)  # a token is never shown


def test_a_bad_window_no_longer_breaks_every_recording_silently() -> None:
    """The symptom: ``Settings(error_rate_window_s=0)`` used to build, and then every
    request's recording raised (swallowed at DEBUG). It is refused where it is made."""
    with pytest.raises(ValueError, match="error_rate_window_s=0"):
        Settings(error_rate_window_s=0)
