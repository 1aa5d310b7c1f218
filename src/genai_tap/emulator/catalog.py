"""Which models the emulator serves, and in which body format.

The emulator resolves model identifiers on its own (it does not share genai-tap's
plugin code, so a bug there cannot hide itself in the tests). Plain IDs,
cross-region profiles (``us.``, ``eu.``, ``apac.``, ``global.`` ...), foundation-model
and inference-profile ARNs resolve by their model ID; a few opaque ARNs
(provisioned, imported, application profile, prompt) are registered below; any
other identifier gets Bedrock's ValidationException, as on AWS.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple
from urllib.parse import unquote

# base model ID prefix -> family; the longest matching prefix wins.
FAMILIES: Dict[str, str] = {
    "amazon.nova-micro": "nova",
    "amazon.nova-lite": "nova",
    "amazon.nova-pro": "nova",
    "amazon.nova-premier": "nova",
    "amazon.nova-2-lite": "nova",
    "amazon.nova-2-pro": "nova",
    "amazon.nova-canvas": "image_tasks",
    "amazon.nova-reel": "nova_reel",
    "amazon.nova-2-multimodal-embeddings": "nova_embed",
    "amazon.titan-text": "titan_text",
    "amazon.titan-tg1-large": "titan_text",
    "amazon.titan-embed": "titan_embed",
    "amazon.titan-image-generator": "image_tasks",
    "anthropic.claude": "anthropic",
    "meta.llama": "llama",
    "mistral.mistral-7b": "mistral",
    "mistral.mixtral": "mistral",
    "mistral.mistral-small-2402": "mistral",
    "mistral.mistral-large-2402": "mistral",
    "mistral.mistral-large-2407": "openai_chat",
    "mistral.pixtral": "openai_chat",
    "cohere.command-r": "cohere_chat",
    "cohere.command-text": "cohere_text",
    "cohere.command-light-text": "cohere_text",
    "cohere.embed": "cohere_embed",
    "ai21.jamba": "openai_chat",
    "ai21.j2": "ai21_j2",
    "deepseek.r1": "deepseek",
    "deepseek.v3": "openai_chat",
    "openai.gpt-oss": "openai_chat",
    "qwen.": "openai_chat",
    "stability.": "stability",
}

#: Families that answer Converse / ConverseStream.
CONVERSE_FAMILIES = frozenset(
    {"nova", "titan_text", "anthropic", "llama", "mistral", "openai_chat", "cohere_chat", "deepseek", "cohere_text", "ai21_j2"}
)

#: Opaque ARNs the emulator knows, by their resource (any region and account).
OPAQUE: Dict[str, str] = {
    "provisioned-model/demo-nova-lite": "amazon.nova-lite-v1:0",
    "imported-model/demo-llama": "meta.llama3-1-8b-instruct-v1:0",
    "application-inference-profile/demo-claude": "anthropic.claude-3-haiku-20240307-v1:0",
    "prompt/DEMOPROMPT:1": "amazon.nova-lite-v1:0",
    "custom-model/amazon.titan-text-express-v1:0:8k/demo": "amazon.titan-text-express-v1:0",
}

REGION_PREFIXES = ("us.", "us-gov.", "eu.", "apac.", "ap.", "jp.", "au.", "ca.", "global.")


def resolve(model_id: str) -> Optional[Tuple[str, str]]:
    """``(base model ID, family)`` for an identifier the emulator serves, else None."""
    model_id = unquote(model_id)
    if model_id.startswith("arn:"):
        resource = model_id.split(":", 5)[-1]
        if resource in OPAQUE:
            model_id = OPAQUE[resource]
        else:
            kind, _, rest = resource.partition("/")
            if kind not in ("foundation-model", "inference-profile") or not rest:
                return None
            model_id = rest
    for prefix in REGION_PREFIXES:
        if model_id.startswith(prefix) and model_id.count(".") >= 2:
            model_id = model_id[len(prefix):]
            break
    best = max((p for p in FAMILIES if model_id.startswith(p)), key=len, default=None)
    if best is None:
        return None
    return model_id, FAMILIES[best]
