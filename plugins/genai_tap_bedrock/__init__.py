"""genai-tap's Amazon Bedrock plugin: traces bedrock-runtime calls made through botocore.

Where things are:

- ``interceptor.py``: the wrapt hook on ``BaseClient._make_api_call``;
- ``operations.py``: one class per traced API (InvokeModel, Converse, StartAsyncInvoke, ...);
- ``model_ids.py``: model IDs, cross-region profiles and ARNs -> vendor and base model;
- ``formats/``: one module per model family's native body format (Nova, Claude, Titan, ...);
- ``blocks.py``: Converse content blocks (also Nova's native body).

This module is imported at start-up, so it only declares the plugin; the rest is
imported when botocore is.
"""

from genai_tap.plugin import Plugin


class BedrockPlugin(Plugin):
    name = "bedrock"
    module = "botocore.client"

    def install(self, module) -> None:
        from . import interceptor

        self._client_module = module
        interceptor.install(module)

    def uninstall(self) -> None:
        from . import interceptor

        interceptor.uninstall(self._client_module)
