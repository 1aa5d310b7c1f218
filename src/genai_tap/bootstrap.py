"""Start-up: register each plugin to install itself when its library is imported.

Runs from ``sitecustomize`` (``genai-tap run``), from ``import genai_tap.auto``,
from the OpenTelemetry instrumentor entry point, or from
:func:`genai_tap.instrument`. It imports neither botocore nor any sink, and
costs a few milliseconds, so an app that never calls a model pays next to
nothing. Calling it again does nothing.
"""

from __future__ import annotations

import sys

from . import entrypoints, importhooks
from .config import get_config
from .plugin import ENTRY_POINT_GROUP

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Optional

    from .config import Config
    from .plugin import Plugin

plugins: "Dict[str, Plugin]" = {}
_started = False


def start(config: "Optional[Config]" = None) -> bool:
    """Register the enabled plugins; returns whether genai-tap is on."""
    global _started
    if _started:
        return True
    cfg = config or get_config()
    _apply_logging(cfg)
    if not cfg.enabled:
        return False
    _started = True
    for name, target in entrypoints.find(ENTRY_POINT_GROUP):
        if not cfg.plugin_enabled(name):
            continue
        try:
            plugin = entrypoints.load(target)()
        except Exception as exc:
            from .guard import report

            report(f"loading plugin {name!r} ({target})", exc)
            continue
        plugins[name] = plugin
        for module in plugin.modules:
            importhooks.when_imported(module, _installer(plugin))
    if "datadog" in cfg.sinks:  # ddtrace's Bedrock integration hands its calls over before the first one
        from .sinks import ddtrace_bedrock

        ddtrace_bedrock.watch(cfg)
    return True


def stop() -> None:
    """Undo :func:`start`: uninstall every plugin and forget pending hooks."""
    global _started
    from .guard import report

    for name, plugin in list(plugins.items()):
        if plugin.installed:
            try:
                plugin.uninstall()
                plugin.installed.clear()
            except Exception as exc:
                report(f"uninstalling plugin {name!r}", exc)
    plugins.clear()
    importhooks.clear()
    _started = False


def _installer(plugin: "Plugin"):
    def install(module) -> None:
        if module.__name__ not in plugin.installed:
            plugin.install(module)
            plugin.installed.add(module.__name__)

    return install


def _apply_logging(cfg: "Config") -> None:
    if not cfg.warnings and cfg.log_level == "WARNING" and "logging" not in sys.modules:
        return  # nothing to say and nothing to set: keep start-up free of the logging import
    import logging

    log = logging.getLogger("genai_tap")
    log.setLevel(cfg.log_level)
    if cfg.log_level in ("DEBUG", "INFO") and not log.handlers:
        # asked for details: Python's last-resort handler shows only warnings, so genai-tap's
        # own lines go to stderr through a handler of their own (and not twice through the app's)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    while cfg.warnings:
        log.warning("genai-tap: %s", cfg.warnings.pop(0))
