"""Plugins: what genai-tap intercepts.

A plugin hooks one library when that library is imported (``module``), turns
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
    #: Installing waits until this module is imported (or happens at once if it is).
    module: str = ""

    def __init__(self) -> None:
        self.installed = False

    def install(self, module: "ModuleType") -> None:
        """Patch the library; called once, right after ``module`` is imported."""
        raise NotImplementedError

    def uninstall(self) -> None:
        """Undo :meth:`install`, leaving the library exactly as it was."""
        raise NotImplementedError
