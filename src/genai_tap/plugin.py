"""Plugins: what genai-tap intercepts.

A plugin hooks a library when that library is imported (``modules``), turns
each call it sees into a :class:`~genai_tap.record.CallRecord`, and hands it to
the :class:`~genai_tap.tap.Tap`. Plugins are found through the
``genai_tap.plugins`` entry-point group (name -> ``module:PluginClass``); the
Bedrock plugin is registered the same way a third party's would be.

The module that defines a plugin class is imported at start-up, so it must be
cheap: import heavy things (wrapt, the parsers) inside :meth:`Plugin.install`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

ENTRY_POINT_GROUP = "genai_tap.plugins"


class Plugin:
    """Base class of plugins."""

    #: Name used by GENAI_TAP_PLUGINS / GENAI_TAP_DISABLED_PLUGINS.
    name: str = ""
    #: The modules to hook: :meth:`install` is called for each, once it is imported (at
    #: once if it already is), e.g. a library's sync client module and its async twin's.
    modules: "tuple[str, ...]" = ()

    def __init__(self) -> None:
        #: names of the modules installed so far
        self.installed: "set[str]" = set()

    def install(self, module: "ModuleType") -> None:
        """Patch the library; called once per module of :attr:`modules`, right after it is imported."""
        raise NotImplementedError

    def uninstall(self) -> None:
        """Undo every :meth:`install`, leaving the libraries exactly as they were."""
        raise NotImplementedError
