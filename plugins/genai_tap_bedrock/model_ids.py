"""What a Bedrock model identifier points at.

Bedrock accepts, wherever it takes a ``modelId``:

============================  ====================================================================
form                          example
============================  ====================================================================
plain model ID                ``amazon.nova-lite-v1:0``
cross-region profile          ``us.amazon.nova-lite-v1:0``, ``eu.``, ``apac.``, ``global.``, ...
foundation-model ARN          ``arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0``
inference-profile ARN         ``arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0``
application profile ARN       ``arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3``
provisioned-model ARN         ``arn:aws:bedrock:us-east-1:123456789012:provisioned-model/a1b2c3``
custom-model ARN              ``arn:aws:bedrock:us-east-1:123456789012:custom-model/amazon.titan-text-express-v1:0:8k/a1b2``
imported-model ARN            ``arn:aws:bedrock:us-east-1:123456789012:imported-model/a1b2c3``
prompt ARN                    ``arn:aws:bedrock:us-east-1:123456789012:prompt/PROMPT12345:1``
prompt-router ARN             ``arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1``
============================  ====================================================================

:func:`resolve` turns any of them into a :class:`~genai_tap.record.ModelRef`
(vendor and base model ID where the identifier says; ``None`` where it is opaque,
in which case the body format is recognised from the request body instead).
The raw identifier is always what spans report as ``gen_ai.request.model``.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from genai_tap.record import ModelRef

#: Prefixes of system-defined cross-region inference profiles.
REGION_PREFIXES = frozenset({"us", "us-gov", "eu", "apac", "ap", "jp", "au", "ca", "global"})

#: ARN resource types whose resource ID is (or starts with) a model or profile ID.
_ID_CARRYING = {
    "foundation-model": "model",
    "inference-profile": "inference-profile",
    "custom-model": "custom",
}
_OPAQUE = {
    "application-inference-profile": "application-inference-profile",
    "provisioned-model": "provisioned",
    "imported-model": "imported",
    "prompt": "prompt",
    "endpoint": "marketplace-endpoint",
}

_cache: Dict[str, ModelRef] = {}
_CACHE_LIMIT = 4096


def resolve(model_id: str) -> ModelRef:
    """Resolve a ``modelId`` (any form above); never raises for a string."""
    ref = _cache.get(model_id)
    if ref is None:
        ref = _resolve(model_id)
        if len(_cache) < _CACHE_LIMIT:
            _cache[model_id] = ref
    return ref


def _resolve(model_id: str) -> ModelRef:
    if model_id.startswith("arn:"):
        return _resolve_arn(model_id)
    base, region = split_region(model_id)
    return ModelRef(vendor=vendor_of(base), base_id=base, kind="inference-profile" if region else "model", region_prefix=region)


def _resolve_arn(arn: str) -> ModelRef:
    # arn:partition:service:region:account:resource-type/resource-id
    fields = arn.split(":", 5)
    if len(fields) < 6:
        return ModelRef(vendor=None, base_id=None, kind="unknown-arn")
    resource = fields[5]
    rtype, _, rid = resource.partition("/")
    if rtype in _ID_CARRYING and rid:
        if rtype == "custom-model":
            rid = rid.split("/", 1)[0]  # base model, then the custom model's own id
            rid = _strip_custom_suffix(rid)
        base, region = split_region(rid)
        vendor = vendor_of(base)
        if vendor is None:  # an application profile spelled as inference-profile, or similar
            return ModelRef(vendor=None, base_id=None, kind=_ID_CARRYING[rtype])
        return ModelRef(vendor=vendor, base_id=base, kind=_ID_CARRYING[rtype], region_prefix=region)
    if rtype.endswith("prompt-router") and rid:
        return ModelRef(vendor=vendor_of(rid), base_id=None, kind="prompt-router")
    return ModelRef(vendor=None, base_id=None, kind=_OPAQUE.get(rtype, rtype or "unknown-arn"))


def split_region(model_id: str) -> Tuple[str, Optional[str]]:
    """``us.amazon.nova-lite-v1:0`` -> (``amazon.nova-lite-v1:0``, ``us``)."""
    head, dot, rest = model_id.partition(".")
    if dot and head in REGION_PREFIXES and "." in rest:
        return rest, head
    return model_id, None


def vendor_of(base_id: str) -> Optional[str]:
    """``anthropic.claude-3-haiku-20240307-v1:0`` -> ``anthropic``; None if it has no vendor part."""
    head, dot, rest = base_id.partition(".")
    if not dot or not head or not rest or not head.replace("-", "").isalnum():
        return None
    return head.lower()


def _strip_custom_suffix(rid: str) -> str:
    # "amazon.titan-text-express-v1:0:8k" -> "amazon.titan-text-express-v1:0"
    parts = rid.split(":")
    return ":".join(parts[:2]) if len(parts) > 2 else rid
