"""``genai-tap emulator``: run the local Amazon Bedrock emulator.

Point an app at it with ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME=<url>`` and
``AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME=<url>`` (and any dummy AWS credentials);
nothing leaves the machine.
"""

from __future__ import annotations

HELP = "run a local Amazon Bedrock emulator: Runtime, Agents, Knowledge Bases, Guardrails (for demos and tests; no AWS account needed)"


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default: 8765; 0 picks a free one)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay before every answer, in milliseconds")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of calls that fail (0 to 1)")
    parser.add_argument("--error", default="ThrottlingException", help="the error those calls get (default: ThrottlingException)")
    parser.add_argument("--seed", type=int, default=None, help="seed for --error-rate, for repeatable runs")
    parser.add_argument(
        "--clock-skew-ms", type=float, default=0.0,
        help="shift the times reported inside answers (agent trace eventTime, metadata times) by this many ms from the local clock",
    )


def main(args) -> int:
    import sys

    from .server import AGENT_ERRORS, ERRORS, Emulator

    known = set(ERRORS) | set(AGENT_ERRORS)
    if args.error not in known and args.error != "drop":
        print(f"genai-tap emulator: --error must be one of {', '.join(sorted(known))}, drop", file=sys.stderr)
        return 2
    emu = Emulator(args.host, args.port, args.latency_ms, args.error_rate, args.error, args.seed, clock_skew_ms=args.clock_skew_ms)
    print(f"Bedrock emulator listening on {emu.url}", flush=True)
    print(f"  export AWS_ENDPOINT_URL_BEDROCK_RUNTIME={emu.url}", flush=True)
    print(f"  export AWS_ENDPOINT_URL_BEDROCK_AGENT_RUNTIME={emu.url}", flush=True)
    print("  (any AWS credentials will do, e.g. AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test)", flush=True)
    try:
        emu.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
