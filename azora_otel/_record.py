"""The duration histograms' hot path: a measurement into the SDK's own aggregation,
with the work that depends only on the label set done once per label set.

``Histogram.record`` costs about 69 k instructions (8 µs) per call on the
project's machine for the contract's two or three labels, more than everything
else the distro does for a request in metrics-only mode. Most of it is the same
for every measurement of a label set: ``Measurement.__post_init__`` validates and
copies the attributes (25 k), and every reader's storage copies them again and
hashes them for the stream lookup (``_hash_attributes``, 21 k: ABC ``isinstance``
checks and a sort with a Python key function). The label sets of the contract are
few and fixed, so :class:`HistogramRecorder` validates and hashes each once and
then, per measurement, does what the SDK does after that: the current context, a
timestamp, the exemplar filter's decision, and for every reader the same
aggregation object's ``aggregate`` (the SDK's lock, buckets, sum, min/max and
exemplar reservoir). The exported data is the SDK's, for every reader and view.

Whatever it cannot do exactly as the SDK would, it leaves to ``Histogram.record``:
values that are negative or not finite (the SDK logs and drops them), label sets
whose attributes the SDK would change when cleaning them, a disabled meter, a
stream not yet created (the SDK creates it, under its lock, with the cardinality
limit), streams the SDK rebuilds at each collection (delta temporality) and
views that keep only some attribute keys. Label sets past
``MAX_CACHED_LABEL_SETS`` are recorded by the SDK too.

It reads a few private attributes of the SDK (the instrument's measurement
consumer, the readers' storages and their streams); the OpenTelemetry packages are
pinned to the release line it was checked against, and :func:`histogram_recorder`
falls back to ``Histogram.record`` whenever one of them is missing.
``AZORA_METRICS_RECORDER=upstream`` uses ``Histogram.record`` always.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from time import time_ns
from typing import Any

from opentelemetry.attributes import _clean_attribute_value
from opentelemetry.context import get_current
from opentelemetry.metrics import Histogram
from opentelemetry.sdk.metrics._internal._view_instrument_match import _hash_attributes
from opentelemetry.sdk.metrics._internal.instrument import Histogram as SDKHistogram
from opentelemetry.sdk.metrics._internal.measurement import Measurement

MAX_CACHED_LABEL_SETS = 10_000

Record = Callable[[float, Hashable, dict[str, str]], None]
"""``record(value, key, attributes)``: ``key`` identifies the label set ``attributes``."""

_INF = math.inf
_new = object.__new__


def _measurement_of_fields(
    value: float, time: int, instrument: Any, context: Any, attributes: Any
) -> Measurement:
    """``Measurement(...)`` for attributes already clean: the fields set directly,
    without ``__post_init__`` cleaning and copying them again."""
    measurement = _new(Measurement)
    fields = measurement.__dict__
    fields["value"] = value
    fields["time_unix_nano"] = time
    fields["instrument"] = instrument
    fields["context"] = context
    fields["attributes"] = attributes
    return measurement


def _measurement_by_constructor(
    value: float, time: int, instrument: Any, context: Any, attributes: Any
) -> Measurement:
    return Measurement(value, time, instrument, context, attributes)


def _builds_the_same() -> bool:
    try:
        probe = {"k": "v"}
        nothing: Any = None
        return _measurement_of_fields(1.5, 7, nothing, nothing, probe) == Measurement(
            1.5, 7, nothing, nothing, probe
        )
    except Exception:  # noqa: BLE001 - a Measurement without __dict__: use the constructor
        return False


# The shortcut only where it builds exactly what the constructor builds.
_measurement = _measurement_of_fields if _builds_the_same() else _measurement_by_constructor


class HistogramRecorder:
    """``Histogram.record`` for label sets known in advance (see the module doc)."""

    __slots__ = ("_consumer", "_hashed", "_instrument", "_upstream")

    def __init__(self, histogram: SDKHistogram) -> None:
        self._instrument = histogram
        consumer: Any = histogram._measurement_consumer
        self._consumer = consumer
        self._upstream = histogram.record
        self._hashed: dict[Hashable, Any] = {}
        # Reading them now: a consumer without them makes this recorder fail here,
        # where histogram_recorder() falls back to the upstream path.
        consumer._reader_storages  # noqa: B018
        consumer._sdk_config.exemplar_filter  # noqa: B018

    def record(self, value: float, key: Hashable, attributes: dict[str, str]) -> None:
        hashed = self._hashed.get(key)
        if hashed is None:
            hashed = self._prepare(key, attributes)
        instrument = self._instrument
        if hashed is False or not 0.0 <= value < _INF or not instrument._is_enabled():
            self._upstream(value, attributes)
            return
        context = get_current()
        time_unix_nano = time_ns()
        measurement = _measurement(value, time_unix_nano, instrument, context, attributes)
        consumer = self._consumer
        sample = consumer._sdk_config.exemplar_filter.should_sample(
            value, time_unix_nano, attributes, context
        )
        for storage in consumer._reader_storages.values():
            matches = storage._instrument_view_instrument_matches.get(instrument)
            if matches is None:
                matches = storage._get_or_init_view_instrument_match(instrument)
            for match in matches:
                aggregation = (
                    None
                    if match._reset_on_collect or match._view._attribute_keys is not None
                    else match._attributes_aggregation.get(hashed)
                )
                if aggregation is None:
                    match.consume_measurement(measurement, sample)
                else:
                    aggregation.aggregate(measurement, sample)

    def _prepare(self, key: Hashable, attributes: dict[str, str]) -> Any:
        """The SDK's stream key of ``attributes``, or ``False`` when the SDK must record
        them itself (they change when cleaned, or there are too many label sets)."""
        hashed: Any = False
        if _clean_attribute_value(attributes, None) == attributes:
            hashed = _hash_attributes(dict(attributes))
        if len(self._hashed) < MAX_CACHED_LABEL_SETS:
            self._hashed[key] = hashed
        return hashed


def histogram_recorder(histogram: Histogram, fast: bool = True) -> Record:
    """A ``record(value, key, attributes)`` for ``histogram``: :class:`HistogramRecorder`
    when ``fast`` and the histogram is the SDK's, else ``Histogram.record``."""
    if fast and isinstance(histogram, SDKHistogram):
        try:
            return HistogramRecorder(histogram).record
        except AttributeError:
            pass
    upstream = histogram.record

    def record(value: float, _key: Hashable, attributes: dict[str, str]) -> None:
        upstream(value, attributes)

    return record
