"""Metrics of other code (other instrumentations, libraries, the application's own meters).

Anything that records through the global meter provider lands in the distro's
``MeterProvider``: contrib instrumentations (httpx, requests, redis, system
metrics...), a task-queue library's own metrics, FastAPI's native metrics if an
app turns them back on, the application's own meters. ``AZORA_OTHER_METRICS``
decides what happens to them, and the same rule holds for every reader, so the
in-process exposition and the OTLP push always carry the same metrics:

- ``drop`` (default): only the contract's seven metrics are exported. A service
  monitored against the specification gets exactly what its dashboards and alerts
  read, and a library cannot grow the exposition (or the series bill) behind its
  back. Each dropped meter is named once on the ``azora_otel`` logger.
- ``keep``: other meters' metrics are exported too, named by the OpenTelemetry
  to Prometheus rules (unit suffix, ``_total``).
- a comma-separated list of meter names (``shop,celery``): those meters are kept,
  the others dropped.

Kept metrics are bounded: at most ``AZORA_OTHER_METRICS_LIMIT`` label sets per
instrument (the SDK's cardinality limit; further label sets are aggregated into
one series labelled ``otel_metric_overflow="true"``), and an instrument of another
meter whose Prometheus name would be one of the contract's is dropped, so a
contract name always means the contract's metric.

The rule is expressed as views (the SDK matches every view against every
instrument and makes one stream per match; these views never match the distro's
own meter, so the contract's instruments keep exactly their own streams). On top
of that, the meter provider hands a dropped meter a no-op meter: its instruments
then cost nothing at all, where a dropped view would still take each measurement
and run each observable callback at every collection.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from opentelemetry.exporter.prometheus._mapping import sanitize_full_name
from opentelemetry.metrics import Meter, NoOpMeter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.util.types import Attributes

from azora_otel._env import check_fields
from azora_otel._instruments import CONTRACT_NAMES, METER_NAME
from azora_otel._variables import AZORA_OTHER_METRICS, AZORA_OTHER_METRICS_LIMIT

_log = logging.getLogger("azora_otel")
_RESERVED = frozenset(name.removesuffix("_total") for name in CONTRACT_NAMES)


@dataclass(frozen=True)
class OtherMetrics:
    """What to export of meters other than the distro's."""

    rule: str = AZORA_OTHER_METRICS.default
    """``drop``, ``keep``, or the kept meter names, comma-separated."""
    limit: int = AZORA_OTHER_METRICS_LIMIT.default

    def __post_init__(self) -> None:
        check_fields(
            self, {"rule": AZORA_OTHER_METRICS.kind, "limit": AZORA_OTHER_METRICS_LIMIT.kind}
        )

    def keeps(self, meter_name: str) -> bool:
        if meter_name == METER_NAME or self.rule == "keep":
            return True
        if self.rule == "drop":
            return False
        return meter_name in self.rule.split(",")


def takes_contract_name(instrument_name: str) -> bool:
    """Whether an instrument would be exported under one of the contract's names."""
    return sanitize_full_name(instrument_name.lower()).removesuffix("_total") in _RESERVED


class _OtherMetersView(View):
    """Matches instruments of meters other than the distro's, kept or dropped by ``rule``.

    ``View``'s own criteria are conjunctive and cannot say "every meter but one", so
    this view decides in ``_match``, which the SDK calls once per instrument and
    reader (the result is cached): nothing is added per measurement.
    """

    def __init__(self, rule: OtherMetrics, *, kept: bool) -> None:
        if kept:
            super().__init__(instrument_name="*", aggregation_cardinality_limit=rule.limit)
        else:
            super().__init__(instrument_name="*", aggregation=DropAggregation())
        self._rule = rule
        self._kept = kept

    def _match(self, instrument: object) -> bool:
        scope = getattr(instrument, "instrumentation_scope", None)
        meter = getattr(scope, "name", None)
        if meter == METER_NAME:
            return False
        name = str(getattr(instrument, "name", ""))
        kept = self._rule.keeps(str(meter))
        if kept and takes_contract_name(name):
            kept = False
            _say_once(
                ("name", f"{meter}/{name}"),
                "azora-otel: instrument %s of meter %s would be exported under a name of "
                "the metric contract; it is dropped",
                name,
                meter,
            )
        return kept == self._kept


def views(rule: OtherMetrics) -> tuple[View, ...]:
    """The views that apply ``rule`` (add them to the contract's)."""
    return (_OtherMetersView(rule, kept=True), _OtherMetersView(rule, kept=False))


class ContractMeterProvider(MeterProvider):
    """A ``MeterProvider`` that gives dropped meters a no-op meter (see the module doc)."""

    def __init__(self, *args: object, other_metrics: OtherMetrics, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._other_metrics = other_metrics

    def get_meter(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> Meter:
        if name and not self._other_metrics.keeps(name):
            _say_once(
                ("meter", name),
                "azora-otel: metrics of meter %s are not exported (%s=%s; set it to keep, "
                "or to a list of meter names that includes this one, to export them)",
                name,
                AZORA_OTHER_METRICS.name,
                self._other_metrics.rule,
                level=logging.INFO,
            )
            return NoOpMeter(name, version=version, schema_url=schema_url)
        return super().get_meter(name, version, schema_url, attributes)


_said: set[tuple[str, str]] = set()
_said_lock = threading.Lock()


def _say_once(
    key: tuple[str, str], message: str, *args: object, level: int = logging.WARNING
) -> None:
    with _said_lock:
        if key in _said or len(_said) >= 1000:
            return
        _said.add(key)
    _log.log(level, message, *args)
