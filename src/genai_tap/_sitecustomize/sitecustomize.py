"""genai-tap's start-up hook: Python runs this when its directory is on PYTHONPATH.

It first runs the ``sitecustomize`` the environment already had (if any), then
starts genai-tap. Keep it short; the logic lives in ``genai_tap.bootstrap``.
"""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_chain_error: "BaseException | None" = None

# Run the next sitecustomize on the path, as if ours were not there.
_ours = sys.modules.pop("sitecustomize", None)
_saved_path = sys.path[:]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
try:
    import sitecustomize  # noqa: F401  (the environment's own, if there is one)
except ImportError as exc:
    if exc.name != "sitecustomize":
        _chain_error = exc
    if _ours is not None:
        sys.modules["sitecustomize"] = _ours
except Exception as exc:  # the other sitecustomize failed: report it as Python would, after starting
    _chain_error = exc
finally:
    sys.path[:] = _saved_path

try:
    from genai_tap.bootstrap import start

    start()
except ImportError as exc:
    sys.stderr.write(f"genai-tap: not started, genai_tap cannot be imported by {sys.executable}: {exc}\n")
except Exception as exc:  # never stop the app from starting
    sys.stderr.write(f"genai-tap: not started: {type(exc).__name__}: {exc}\n")

if _chain_error is not None:
    raise _chain_error
