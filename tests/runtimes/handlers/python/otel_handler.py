"""A handler instrumented with the OpenTelemetry SDK: its span's parent must be the caller's."""

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))
trace.set_tracer_provider(PROVIDER)
TRACER = trace.get_tracer("handler")


def handler(event, context):
    with TRACER.start_as_current_span("work") as span:
        own = span.get_span_context()
    finished = EXPORTER.get_finished_spans()[-1]
    parent = finished.parent
    return {
        "traceId": format(own.trace_id, "032x"),
        "parentSpanId": format(parent.span_id, "016x") if parent is not None else None,
        "parentIsRemote": bool(parent is not None and parent.is_remote),
    }
