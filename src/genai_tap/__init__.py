"""genai-tap: zero-code tracing of generative-AI calls (Amazon Bedrock first).

Most users never import this: ``genai-tap run python app.py`` is enough. For code
that wants to switch it on itself::

    import genai_tap
    genai_tap.instrument()      # or: import genai_tap.auto
    ...
    genai_tap.uninstrument()    # restores botocore exactly
"""

from ._version import __version__

__all__ = ["__version__", "instrument", "uninstrument", "flush"]


def instrument(**settings: str) -> bool:
    """Switch genai-tap on in this process; returns whether it is on.

    ``settings`` override environment variables by their name without the
    ``GENAI_TAP_`` prefix, lower-cased: ``instrument(sinks="otel", capture_content="false")``.
    """
    import os

    from . import bootstrap
    from .config import Config, reset_config

    if settings:
        env = dict(os.environ)
        env.update({f"GENAI_TAP_{k.upper()}": str(v) for k, v in settings.items()})
        reset_config(Config.from_env(env))
    return bootstrap.start()


def uninstrument() -> None:
    """Remove every patch genai-tap made and flush what it holds."""
    from . import bootstrap
    from .tap import get_tap

    bootstrap.stop()
    get_tap().flush()


def flush(timeout_s: float = 5.0) -> None:
    """Export what genai-tap has buffered now (e.g. before ``os._exit``)."""
    from .tap import get_tap

    get_tap().flush(timeout_s)
