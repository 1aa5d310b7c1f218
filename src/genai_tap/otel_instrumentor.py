"""genai-tap as an OpenTelemetry instrumentor.

Registered in the ``opentelemetry_instrumentor`` entry-point group, so
``opentelemetry-instrument python app.py`` (from opentelemetry-instrumentation)
switches genai-tap on too. Providers passed to ``instrument()`` are used; otherwise
the global ones that the OpenTelemetry distro configured.
"""

from __future__ import annotations

from typing import Any, Collection

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]


class GenaiTapInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        # botocore is not required to be installed: genai-tap waits for it to be imported.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from . import bootstrap
        from .sinks import otel

        otel.use_providers(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        bootstrap.start()

    def _uninstrument(self, **kwargs: Any) -> None:
        from . import bootstrap

        bootstrap.stop()
