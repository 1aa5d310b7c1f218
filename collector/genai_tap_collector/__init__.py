"""genai-tap's local collector: see, price and alert on every GenAI call on one machine.

``genai-tap collector`` receives OTLP/HTTP, keeps GenAI spans (and the rest of
their traces) in SQLite, serves a web UI and JSON API, evaluates alert rules and
can forward everything upstream. The app being traced never imports this
package; it only talks OTLP to it.

Where things are:

- ``server.py``: :class:`~genai_tap_collector.server.Collector`, the whole thing in one object;
- ``otlp.py``: OTLP/HTTP bodies (protobuf, JSON, gzip) -> :class:`~genai_tap_collector.otlp.Span`;
- ``receiver.py``: the OTLP/HTTP endpoint; ``forwarder.py``: the upstream copy;
- ``store.py``: the SQLite schema and queries; ``views.py``: what each page shows;
- ``prices.py`` + ``prices.toml``: cost estimates; ``alerts.py``: alert rules;
- ``web.py``, ``pages.py``, ``charts.py``: the UI; ``commands/``: the CLI.
"""
