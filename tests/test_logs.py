"""Log output formats and the exporter-log rate limit."""

from __future__ import annotations

import calendar
import io
import json
import logging
import logging.config
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "apps"))
import hostile_harness as harness

from azora_otel._logs import JsonFormatter, RateLimitFilter, TextFormatter, emit, install_handler


def _record(**fields: object) -> logging.LogRecord:
    record = logging.LogRecord("azora_otel", logging.WARNING, __file__, 1, "slow request", (), None)
    record.azora = {"event": "slow_request", **fields}
    return record


def test_json_formatter_emits_one_object_with_the_fields() -> None:
    line = JsonFormatter().format(_record(method="GET", route="/x", duration_ms=150.5))
    payload = json.loads(line)
    assert payload["event"] == "slow_request"
    assert payload["method"] == "GET"
    assert payload["route"] == "/x"
    assert payload["duration_ms"] == 150.5
    assert payload["level"] == "warning"
    assert payload["logger"] == "azora_otel"
    assert payload["message"] == "slow request"
    assert payload["time"].endswith("Z")
    assert "\n" not in line


def test_text_formatter_is_key_value_and_quotes_spaces() -> None:
    line = TextFormatter().format(_record(route="/a b", duration_ms=150.25, method="GET"))
    assert " WARNING azora_otel event=slow_request " in line
    assert 'route="/a b"' in line
    assert "duration_ms=150.2" in line or "duration_ms=150.3" in line
    assert "method=GET" in line


@pytest.mark.parametrize(("fmt", "parse"), [("json", json.loads), ("text", str)])
def test_installed_handler_writes_to_stderr(
    fmt: str, parse: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    logger = logging.getLogger("azora_otel")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    try:
        install_handler(fmt)
        emit(logging.WARNING, "slow_request", "slow request", {"route": "/x"})
    finally:
        install_handler("off")
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    output = stream.getvalue().strip()
    assert output
    parsed = parse(output)  # type: ignore[operator]
    assert "slow_request" in str(parsed)


def test_off_leaves_records_to_the_application(monkeypatch: pytest.MonkeyPatch) -> None:
    install_handler("off")
    logger = logging.getLogger("azora_otel")
    assert all(h.get_name() != "azora_otel" for h in logger.handlers)
    assert logger.propagate


def test_rate_limit_lets_one_through_per_interval_and_counts_the_rest() -> None:
    now = [0.0]
    limit = RateLimitFilter(interval_s=60, clock=lambda: now[0])

    def rec(msg: str) -> logging.LogRecord:
        return logging.LogRecord("opentelemetry.x", logging.ERROR, __file__, 1, msg, (), None)

    assert limit.filter(rec("Failed to export"))
    assert not any(limit.filter(rec("Failed to export")) for _ in range(50))
    assert limit.filter(rec("another message"))  # a different message has its own budget
    now[0] = 61
    passed = rec("Failed to export")
    assert limit.filter(passed)
    assert "50 similar messages suppressed" in passed.getMessage()


# --- the application's logging configuration ------------------------------------------


@pytest.fixture
def logging_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The distro's text handler writing to a buffer; the whole logging state restored."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    logger = logging.getLogger("azora_otel")
    saved_root = (root.level, list(root.handlers))
    saved = (logger.level, logger.propagate, list(logger.handlers), logger.disabled)
    install_handler("text")
    try:
        yield stream
    finally:
        install_handler("off")
        root.handlers[:] = saved_root[1]
        root.setLevel(saved_root[0])
        logger.handlers[:] = saved[2]
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.disabled = saved[3]


def slow_query() -> None:
    emit(logging.WARNING, "slow_query", "slow query", {"operation": "select", "model": "t"})


# The logging section of the alembic.ini that `alembic init` writes; Alembic's env.py
# passes it to logging.config.fileConfig (disable_existing_loggers defaults to True).
ALEMBIC_INI_LOGGING = """
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


def test_dict_config_that_does_not_name_the_logger_leaves_it_on(
    logging_state: io.StringIO,
) -> None:
    logging.config.dictConfig(
        {
            "version": 1,  # disable_existing_loggers: True by default
            "handlers": {"console": {"class": "logging.StreamHandler"}},
            "root": {"level": "INFO", "handlers": ["console"]},
        }
    )
    slow_query()
    assert "event=slow_query operation=select model=t" in logging_state.getvalue()
    assert not logging.getLogger("azora_otel").disabled


def test_alembic_style_file_config_leaves_it_on(logging_state: io.StringIO, tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(ALEMBIC_INI_LOGGING)
    logging.config.fileConfig(ini)
    slow_query()
    assert logging_state.getvalue().count("event=slow_query") == 1


def test_a_config_that_names_the_logger_is_obeyed(logging_state: io.StringIO) -> None:
    logging.config.dictConfig(
        {"version": 1, "loggers": {"azora_otel": {"level": "ERROR", "propagate": False}}}
    )
    slow_query()  # WARNING < ERROR: the application asked for less
    emit(logging.ERROR, "boom", "boom", {})
    assert "event=slow_query" not in logging_state.getvalue()
    assert logging.getLogger("azora_otel").level == logging.ERROR


def test_a_config_that_names_the_logger_can_route_it(logging_state: io.StringIO) -> None:
    routed = io.StringIO()
    logging.config.dictConfig(
        {
            "version": 1,
            "formatters": {"plain": {"format": "%(name)s|%(message)s"}},
            "handlers": {
                "mine": {"class": "logging.StreamHandler", "stream": routed, "formatter": "plain"}
            },
            "loggers": {"azora_otel": {"handlers": ["mine"], "propagate": False}},
        }
    )
    slow_query()
    assert routed.getvalue() == "azora_otel|slow query\n"
    assert logging_state.getvalue() == ""  # the application replaced the distro's handler


def test_setting_disabled_by_hand_is_obeyed(logging_state: io.StringIO) -> None:
    logger = logging.getLogger("azora_otel")
    logger.disabled = True
    slow_query()
    assert logging_state.getvalue() == ""
    logger.disabled = False
    slow_query()
    assert "event=slow_query" in logging_state.getvalue()


def test_other_loggers_are_still_disabled_as_the_config_says(logging_state: io.StringIO) -> None:
    other = logging.getLogger("azora_test_other_library")
    logging.config.dictConfig({"version": 1})
    assert other.disabled  # the distro changes nothing for anyone else
    other.disabled = False


# --- one record, one line ---------------------------------------------------------------

_PAIR = re.compile(r'(\S+?)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_text_line(line: str) -> dict[str, str]:
    """The ``key=value`` fields of a text record (quoted values are JSON strings)."""
    fields: dict[str, str] = {}
    for key, value in _PAIR.findall(line.split(" ", 3)[3]):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return fields


NASTY = [
    "shop\nINFO fake record",
    "shop\nprod",
    "a\r\nb",
    "tab\there",
    'say "hi"',
    "k=v",
    "back\\slash",
    "\x1b[31mred\x1b[0m",
    "line\u2028sep\u2029par\x85nel",
    "del\x7f",
    "",
    " ",
    "ünïcødé/路由",
]


@pytest.mark.parametrize("value", NASTY)
def test_text_values_keep_a_record_on_one_line(value: str) -> None:
    line = TextFormatter().format(_record(service=value, route=f"/x/{value}", n=3))
    assert len(line.splitlines()) == 1
    assert line.isprintable()
    fields = parse_text_line(line)
    assert fields["service"] == value
    assert fields["route"] == f"/x/{value}"
    assert fields["n"] == "3"


@given(st.dictionaries(st.sampled_from(["service", "route", "statement"]), st.text(max_size=40)))
def test_property_any_field_values_round_trip_on_one_line(values: dict[str, str]) -> None:
    line = TextFormatter().format(_record(**values))
    assert len(line.splitlines()) == 1
    assert line.isprintable()
    assert parse_text_line(line) == {"event": "slow_request", **values}


def _fail() -> None:
    raise ValueError("bad\nvalue")


def test_plain_messages_and_exceptions_stay_on_one_line() -> None:
    try:
        _fail()
    except ValueError:
        record = logging.LogRecord(
            "azora_otel", logging.WARNING, __file__, 1, "flush\nfailed", (), sys.exc_info()
        )
    line = TextFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert "flush\\u000afailed" in line
    exception = json.loads(line.split(" exception=", 1)[1])
    assert exception.startswith("Traceback")
    assert "ValueError: bad\nvalue" in exception


def test_json_records_are_one_line_whatever_the_values() -> None:
    for value in NASTY:
        line = JsonFormatter().format(_record(service=value))
        assert len(line.splitlines()) == 1
        assert json.loads(line)["service"] == value


def test_text_formatter_docstring_shows_what_it_writes() -> None:
    doc = TextFormatter.__doc__ or ""
    example = " ".join(re.search(r"``(\d{4}-.*?)``", doc, re.DOTALL).group(1).split())  # type: ignore[union-attr]
    stamp, level, name, _ = example.split(" ", 3)
    record = _record()
    record.azora = parse_text_line(example)
    record.created = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    record.levelname = level
    assert name == "azora_otel"
    assert TextFormatter().format(record) == example


UVICORN_LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": True,  # what a hand-written --log-config often says
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    "handlers": {"err": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"uvicorn": {"handlers": ["err"], "level": "WARNING"}},
}


@pytest.mark.e2e
def test_uvicorn_log_config_does_not_silence_the_records(tmp_path: Path) -> None:
    """Real uvicorn, ``--log-config`` applied after the distro started; a service name
    with a newline: every record of the distro arrives, each on one line."""
    config = tmp_path / "log.json"
    config.write_text(json.dumps(UVICORN_LOG_CONFIG))
    port = harness.stack.free_port()
    service = harness.start_service(
        tmp_path,
        [*harness.uvicorn_command(port), "--log-config", str(config)],
        port,
        {"PERF_DB_QUERY_MS": "0.000001", "AZORA_LOG_FORMAT": "text"},
        name="shop\nprod",
    )
    try:
        assert harness.get(port, "/db/users/3", []) == 200
        harness.stack.wait_for(
            lambda: "event=slow_query" in service.log(), 60, "a slow_query record"
        )
    finally:
        service.stop()
    ours = [line for line in service.log().splitlines() if " azora_otel " in line]
    assert any("event=started" in line and 'service="shop\\nprod"' in line for line in ours)
    assert any("event=slow_query" in line and "model=users" in line for line in ours)
    assert "prod" not in [line.strip() for line in service.log().splitlines()]
