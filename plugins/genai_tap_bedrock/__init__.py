"""genai-tap's Amazon Bedrock plugin: traces Bedrock calls made through botocore and aiobotocore.

Where things are:

- ``interceptor.py``: the wrapt hooks on ``BaseClient._make_api_call`` (botocore) and
  ``AioBaseClient._make_api_call`` (aiobotocore, aioboto3): one per client kind, the rest shared;
- ``operations.py``: one class per traced Bedrock Runtime API (InvokeModel, Converse, StartAsyncInvoke, ...);
- ``guardrails.py``: ApplyGuardrail, and guardrails acting on model calls;
- ``agent_runtime.py``: the traced Bedrock Agent Runtime APIs: ``agents.py`` (InvokeAgent,
  InvokeInlineAgent; ``agent_trace.py`` turns their trace events into child records) and
  ``retrieval.py`` (Retrieve, RetrieveAndGenerate and its stream);
- ``model_ids.py``: model IDs, cross-region profiles and ARNs -> vendor and base model;
- ``formats/``: one module per model family's native body format (Nova, Claude, Titan, ...);
- ``blocks.py``: Converse content blocks (also Nova's native body);
- ``streams.py``: event streams (sync and async) and how their events are read;
- ``bodies.py``: InvokeModel response bodies of async clients, read as the app reads them.

This module is imported at start-up, so it only declares the plugin; the rest is
imported when botocore (or aiobotocore) is.
"""

from genai_tap.plugin import Plugin

SYNC_CLIENT = "botocore.client"
ASYNC_CLIENT = "aiobotocore.client"


class BedrockPlugin(Plugin):
    name = "bedrock"
    modules = (SYNC_CLIENT, ASYNC_CLIENT)

    def __init__(self) -> None:
        super().__init__()
        self._client_modules: list = []

    def install(self, module) -> None:
        from . import interceptor

        if module.__name__ == ASYNC_CLIENT:
            interceptor.install_async(module)
        else:
            interceptor.install(module)
        self._client_modules.append(module)

    def uninstall(self) -> None:
        from . import interceptor

        for module in reversed(self._client_modules):
            if module.__name__ == ASYNC_CLIENT:
                interceptor.uninstall_async(module)
            else:
                interceptor.uninstall(module)
        self._client_modules.clear()
