"""Model identifiers in every form Bedrock accepts resolve to vendor and base model."""

from __future__ import annotations

import pytest
from genai_tap_bedrock import formats
from genai_tap_bedrock.model_ids import resolve

ACCOUNT = "123456789012"


@pytest.mark.parametrize(
    "model_id, vendor, base, kind, region",
    [
        ("amazon.nova-lite-v1:0", "amazon", "amazon.nova-lite-v1:0", "model", None),
        ("us.amazon.nova-lite-v1:0", "amazon", "amazon.nova-lite-v1:0", "inference-profile", "us"),
        ("eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic", "anthropic.claude-3-7-sonnet-20250219-v1:0", "inference-profile", "eu"),
        ("apac.amazon.nova-pro-v1:0", "amazon", "amazon.nova-pro-v1:0", "inference-profile", "apac"),
        ("global.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic", "anthropic.claude-sonnet-4-20250514-v1:0", "inference-profile", "global"),
        ("us-gov.meta.llama3-8b-instruct-v1:0", "meta", "meta.llama3-8b-instruct-v1:0", "inference-profile", "us-gov"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", "amazon", "amazon.titan-text-express-v1", "model", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:inference-profile/us.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic", "anthropic.claude-3-5-sonnet-20240620-v1:0", "inference-profile", "us"),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:custom-model/amazon.titan-text-express-v1:0:8k/abc123", "amazon", "amazon.titan-text-express-v1:0", "custom", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1b2c3", None, None, "application-inference-profile", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/xyz", None, None, "provisioned", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:imported-model/m1", None, None, "imported", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:prompt/PROMPT12345:1", None, None, "prompt", None),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:default-prompt-router/anthropic.claude:1", "anthropic", None, "prompt-router", None),
        ("arn:aws-cn:bedrock:cn-north-1::foundation-model/meta.llama3-70b-instruct-v1:0", "meta", "meta.llama3-70b-instruct-v1:0", "model", None),
        ("not-a-model", None, "not-a-model", "model", None),
        ("arn:broken", None, None, "unknown-arn", None),
    ],
)
def test_resolve(model_id: str, vendor, base, kind, region) -> None:
    ref = resolve(model_id)
    assert (ref.vendor, ref.base_id, ref.kind, ref.region_prefix) == (vendor, base, kind, region)


@pytest.mark.parametrize(
    "model_id, body, family",
    [
        ("amazon.nova-micro-v1:0", {"messages": []}, "nova"),
        ("amazon.nova-2-lite-v1:0", {"messages": []}, "nova"),
        ("amazon.nova-canvas-v1:0", {"taskType": "TEXT_IMAGE"}, "image_tasks"),
        ("amazon.nova-2-multimodal-embeddings-v1:0", {"taskType": "SINGLE_EMBEDDING"}, "nova_embed"),
        ("amazon.titan-embed-text-v2:0", {"inputText": "x"}, "titan_embed"),
        ("amazon.titan-text-premier-v1:0", {"inputText": "x"}, "titan_text"),
        ("mistral.mistral-large-2407-v1:0", {"messages": []}, "openai_chat"),
        ("mistral.mixtral-8x7b-instruct-v0:1", {"prompt": "x"}, "mistral"),
        ("deepseek.r1-v1:0", {"prompt": "x"}, "deepseek"),
        ("deepseek.v3-v1:0", {"messages": []}, "openai_chat"),
        ("cohere.command-r-plus-v1:0", {"message": "x"}, "cohere_chat"),
        ("cohere.embed-english-v3", {"texts": ["x"]}, "cohere_embed"),
        ("stability.sd3-5-large-v1:0", {"prompt": "x"}, "stability"),
        ("anthropic.claude-v2", {"prompt": "\n\nHuman: hi\n\nAssistant:"}, "anthropic_text"),  # Claude 2 text completions
        # opaque ARNs: recognised from the body
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:imported-model/m1", {"prompt": "<|begin_of_text|>hi", "max_gen_len": 10}, "llama"),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/p1", {"schemaVersion": "messages-v1", "messages": []}, "nova"),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:application-inference-profile/a1", {"anthropic_version": "bedrock-2023-05-31", "messages": []}, "anthropic"),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/p2", {"inputText": "x", "textGenerationConfig": {}}, "titan_text"),
        (f"arn:aws:bedrock:us-east-1:{ACCOUNT}:provisioned-model/p3", {"whatever": 1}, None),
    ],
)
def test_format_selection(model_id: str, body: dict, family) -> None:
    fmt = formats.select(resolve(model_id), body)
    assert (fmt.name if fmt else None) == family
