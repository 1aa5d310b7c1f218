"""Run a function when a module is imported, whether that happens before or after.

This is wrapt's post-import hook idea (``wrapt.register_post_import_hook``) in a
few lines of our own, because importing wrapt costs about 55 ms at start-up (it
pulls in asyncio, inspect and importlib.metadata), which is more than the whole
start-up budget genai-tap allows itself in an app that never calls Bedrock. wrapt
is still what patches functions; it is imported only once the target module
(botocore) is, where its cost hides in botocore's own import.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Callable, Dict, List, Optional, Tuple

_hooks: "Dict[str, List[Callable[[ModuleType], None]]]" = {}
_finder_installed = False


def when_imported(module_name: str, hook: "Callable[[ModuleType], None]") -> None:
    """Call ``hook(module)`` once ``module_name`` is imported (now, if it already is)."""
    module = sys.modules.get(module_name)
    if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False) is False:
        _call(hook, module)
        return
    _hooks.setdefault(module_name, []).append(hook)
    _install_finder()


def clear() -> None:
    _hooks.clear()


def _call(hook: "Callable[[ModuleType], None]", module: "ModuleType") -> None:
    try:
        hook(module)
    except Exception as exc:  # never let our hook break the app's import
        from .guard import report

        report(f"import hook for {module.__name__}", exc)


def _fire(module: "ModuleType") -> None:
    for hook in _hooks.pop(module.__name__, ()):
        _call(hook, module)


class _Loader:
    """Wraps the real loader; runs the hooks after the module body has executed."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        # The module must look as if the real loader had loaded it.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _fire(module)

    def __getattr__(self, name):
        return getattr(self.loader, name)


class _Finder:
    """A meta-path finder that only reacts to the modules we wait for."""

    _busy: "set[str]" = set()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in _hooks or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self._busy.discard(fullname)
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _Loader(spec.loader)
        return spec

    def invalidate_caches(self) -> None:
        pass


def _install_finder() -> None:
    global _finder_installed
    if not _finder_installed:
        sys.meta_path.insert(0, _Finder())
        _finder_installed = True


def module_version(name: str) -> "Optional[Tuple[int, ...]]":
    """The release of the imported module ``name``, from its ``__version__`` (see
    :func:`release`); None if it is not imported or says no version."""
    return release(getattr(sys.modules.get(name), "__version__", None))


def release(text: object) -> "Optional[Tuple[int, ...]]":
    """A version string as numbers: ``"4.17.0rc1"`` -> ``(4, 17, 0)`` (each part's leading
    digits, up to the first part without any); None if it starts with none."""
    parts = []
    for piece in str(text or "").split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None
