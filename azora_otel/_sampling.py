"""Sampling decided before any span work, so an unsampled request or query costs what
metrics-only mode costs.

The SDK asks the sampler only inside ``Tracer.start_span``, after the caller has
built every attribute (FastAPI's server span parses the URL, the host header and
the propagation headers first; a SQL span formats its statement). At the ratios
run in production (1-10 %) almost all of that work is thrown away. The samplers
the SDK builds from ``OTEL_TRACES_SAMPLER`` (``always_on``, ``always_off``,
``traceidratio`` and their ``parentbased_`` forms) decide from two things only: the
parent's span context and the trace id. :class:`SamplingGate` makes the same
decision up front from those two:

- dropped: the caller makes no span at all; where the span would have been the
  current one (a server span), it attaches a non-recording span carrying the same
  trace id, span id, flags and trace state the SDK would have given it, so child
  spans are dropped by ``parentbased`` samplers and outgoing calls propagate the
  trace exactly as before;
- sampled: the caller builds its span as usual. For a root span the trace id the
  decision was made on is handed to the SDK through :class:`HandoffIdGenerator`,
  so the SDK's own sampler sees the same id and agrees.

Any other sampler (a custom one, or a subclass overriding ``should_sample``) may
look at names, attributes or links, so no gate is built and every span goes
through the SDK as usual. ``AZORA_SAMPLING_GATE=false`` turns the gate off.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

Decide = Callable[[SpanContext | None, int], bool]
"""``decide(parent, trace_id)``: whether a span with this parent and trace id is sampled
(``parent`` is ``None`` for a root span)."""

_NEXT_TRACE_ID: ContextVar[list[int] | None] = ContextVar("azora_otel_next_trace_id", default=None)
_GATE = "_azora_sampling_gate"
_ID_LIMIT = TraceIdRatioBased.TRACE_ID_LIMIT
_RANDOM_ID = TraceFlags(TraceFlags.RANDOM_TRACE_ID)
_NO_FLAGS = TraceFlags(0)
_getrandbits = random.getrandbits
_NO_STATE = SpanContext(1, 1, False).trace_state


def _fast_span_context(trace_id: int, span_id: int, flags: TraceFlags, state: Any) -> SpanContext:
    """``SpanContext(trace_id, span_id, False, flags, state)`` for ids known to be valid
    (nonzero, in range): the tuple the constructor would build, without its checks."""
    return tuple.__new__(SpanContext, (trace_id, span_id, False, flags, state, True))


def _checked_span_context(
    trace_id: int, span_id: int, flags: TraceFlags, state: Any
) -> SpanContext:
    return SpanContext(trace_id, span_id, False, flags, state)


# The shortcut only where it builds exactly what the constructor builds.
_span_context = (
    _fast_span_context
    if _fast_span_context(5, 7, _RANDOM_ID, _NO_STATE) == SpanContext(5, 7, False, _RANDOM_ID)
    and _fast_span_context(5, 7, _RANDOM_ID, _NO_STATE).is_valid
    else _checked_span_context
)


class HandoffIdGenerator(RandomIdGenerator):
    """Random ids, except a trace id the gate already drew and decided on (used once)."""

    def generate_trace_id(self) -> int:
        box = _NEXT_TRACE_ID.get()
        if box:
            return box.pop()
        return super().generate_trace_id()


def _overrides(sampler: Sampler, base: type) -> bool:
    return type(sampler).should_sample is not base.should_sample  # type: ignore[attr-defined]


def compile_sampler(sampler: Sampler) -> Decide | None:
    """The decision of ``sampler`` as a function of parent and trace id, or ``None``
    when the sampler may depend on anything else."""
    if isinstance(sampler, StaticSampler) and not _overrides(sampler, StaticSampler):
        sampled = sampler._decision is Decision.RECORD_AND_SAMPLE
        return lambda _parent, _trace_id: sampled
    if isinstance(sampler, TraceIdRatioBased) and not _overrides(sampler, TraceIdRatioBased):
        bound = sampler.bound
        return lambda _parent, trace_id: trace_id & _ID_LIMIT < bound
    if isinstance(sampler, ParentBased) and not _overrides(sampler, ParentBased):
        delegates = [
            compile_sampler(s)
            for s in (
                sampler._root,
                sampler._remote_parent_sampled,
                sampler._remote_parent_not_sampled,
                sampler._local_parent_sampled,
                sampler._local_parent_not_sampled,
            )
        ]
        compiled = [d for d in delegates if d is not None]
        if len(compiled) != len(delegates):
            return None
        root, remote_yes, remote_no, local_yes, local_no = compiled

        def parent_based(parent: SpanContext | None, trace_id: int) -> bool:
            if parent is None or not parent.is_valid:
                return root(parent, trace_id)
            if parent.is_remote:
                chosen = remote_yes if parent.trace_flags.sampled else remote_no
            else:
                chosen = local_yes if parent.trace_flags.sampled else local_no
            return chosen(parent, trace_id)

        return parent_based
    return None


def _samples_every_root(sampler: Sampler) -> bool:
    if isinstance(sampler, ParentBased):
        return _samples_every_root(sampler._root)
    if isinstance(sampler, TraceIdRatioBased):
        return sampler.bound > _ID_LIMIT
    return isinstance(sampler, StaticSampler) and sampler._decision is Decision.RECORD_AND_SAMPLE


class SamplingGate:
    """The sampling decision of one tracer provider, made before any span work."""

    def __init__(self, decide: Decide, roots_always_sampled: bool) -> None:
        self.decide = decide
        self.roots_always_sampled = roots_always_sampled
        """True when every root span is sampled (``parentbased_always_on``, the default):
        then only a propagated parent can lead to a drop."""

    def root_trace_id(self) -> tuple[int, bool]:
        """A new trace id and whether a root span with it is sampled."""
        trace_id = _getrandbits(128) or 1
        return trace_id, self.decide(None, trace_id)

    def child_sampled(self, parent: SpanContext) -> bool:
        """Whether a span under the valid ``parent`` is sampled."""
        return self.decide(parent, parent.trace_id)

    @staticmethod
    def dropped_span(parent: SpanContext | None, trace_id: int) -> NonRecordingSpan:
        """The span the SDK returns for a dropped span with this parent and trace id."""
        if parent is None:
            flags = TraceFlags(TraceFlags.RANDOM_TRACE_ID)
            trace_state = None
        else:
            flags = TraceFlags(
                TraceFlags.RANDOM_TRACE_ID if parent.trace_flags.random_trace_id else 0
            )
            trace_state = parent.trace_state
        span_id = random.getrandbits(64) or 1
        return NonRecordingSpan(SpanContext(trace_id, span_id, False, flags, trace_state))


@contextmanager
def handoff(trace_id: int) -> Iterator[None]:
    """Within the block, the next root span created gets ``trace_id``."""
    token = _NEXT_TRACE_ID.set([trace_id])
    try:
        yield
    finally:
        _NEXT_TRACE_ID.reset(token)


def set_handoff(trace_id: int) -> object:
    """:func:`handoff` without the context manager (hot paths); undo with :func:`reset_handoff`."""
    return _NEXT_TRACE_ID.set([trace_id])


def reset_handoff(token: object) -> None:
    _NEXT_TRACE_ID.reset(token)  # type: ignore[arg-type]


def install_gate(provider: TracerProvider, enabled: bool = True) -> SamplingGate | None:
    """Build (once) the gate of ``provider``; ``None`` when it cannot have one.

    A gate needs the provider's trace ids to come from :class:`HandoffIdGenerator`
    (so sampled root spans keep the id they were decided on) and a sampler that
    :func:`compile_sampler` understands.
    """
    gate: SamplingGate | None = None
    if enabled and isinstance(provider.id_generator, HandoffIdGenerator):
        decide = compile_sampler(provider.sampler)
        if decide is not None:
            gate = SamplingGate(decide, roots_always_sampled=_samples_every_root(provider.sampler))
    setattr(provider, _GATE, gate)
    return gate


def gate_of(provider: object) -> SamplingGate | None:
    """The gate :func:`install_gate` built for ``provider`` (``None`` if none)."""
    return getattr(provider, _GATE, None)


def current_parent() -> SpanContext | None:
    """The current span's context when it is valid, else ``None`` (a root)."""
    parent = trace.get_current_span().get_span_context()
    return parent if parent.is_valid else None
