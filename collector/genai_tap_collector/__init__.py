"""genai-tap's local collector: see, price and alert on every GenAI call on one machine.

``genai-tap collector`` receives OTLP (HTTP and gRPC), keeps GenAI spans (and the rest of
their traces) in SQLite, serves a web UI and JSON API, evaluates alert rules and
can forward everything upstream. The app being traced never imports this
package; it only talks OTLP to it.

Where things are:

- ``server.py``: :class:`~genai_tap_collector.server.Collector`, the whole thing in one object;
- ``receiver.py``: the OTLP/HTTP endpoint; ``grpc_receiver.py``: OTLP/gRPC; ``forwarder.py``: the upstream copy;
- ``ingest.py``: admission, decoding and the hand-over to the writer; ``limits.py``: what is accepted;
- ``otlp.py``: OTLP bodies (protobuf, JSON, gzip) -> rows, and stored spans read back;
- ``writer.py``: the writer process (commits, rollups, retention); ``rows.py``: the row layouts it shares;
- ``store.py``: the SQLite schema, writes and reads; ``rollups.py``: the per-minute/hour/day sums;
- ``views.py``: what each page shows;
- ``prices.py`` + ``prices.toml``: cost estimates; ``alerts.py``: alert rules;
- ``web.py``, ``pages.py``, ``charts.py``: the UI; ``commands/``: the CLI.
"""
