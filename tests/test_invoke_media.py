"""Embeddings, image generation and video jobs: recorded without reading vectors or media."""

from __future__ import annotations

import json
from typing import Any

import pytest


def _floats(obj: Any) -> list:
    if isinstance(obj, float):
        return [obj]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list):
        return [f for item in obj for f in _floats(item)]
    return []


@pytest.mark.parametrize(
    "model, body, dims, prompt",
    [
        ("amazon.titan-embed-text-v2:0", {"inputText": "hello vectors", "dimensions": 1024, "normalize": True}, 1024, "hello vectors"),
        ("amazon.titan-embed-text-v1", {"inputText": "hello v1"}, None, "hello v1"),
        ("amazon.titan-embed-image-v1", {"inputText": "a cat", "inputImage": "aGVsbG8=", "embeddingConfig": {"outputEmbeddingLength": 384}}, 384, "a cat"),
        ("cohere.embed-english-v3", {"texts": ["first text", "second"], "input_type": "search_document", "embedding_types": ["float"]}, None, "first text"),
        (
            "amazon.nova-2-multimodal-embeddings-v1:0",
            {"taskType": "SINGLE_EMBEDDING", "singleEmbeddingParams": {"embeddingPurpose": "GENERIC_INDEX", "embeddingDimension": 1024, "text": {"truncationMode": "END", "value": "nova embeds"}}},
            1024,
            "nova embeds",
        ),
    ],
)
def test_embeddings(model: str, body: dict, dims: Any, prompt: str, tap: Any, client: Any) -> None:
    resp = client.invoke_model(modelId=model, body=json.dumps(body))
    span = tap.span()  # ended at return: the app has not read the body yet
    answer = json.loads(resp["body"].read())  # the app still gets the whole vector body
    a = span.attributes
    assert span.name == f"embeddings {model}"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] > 0  # from the x-amzn-bedrock-input-token-count header
    if dims is None:
        assert "gen_ai.embeddings.dimension.count" not in a
    else:
        assert a["gen_ai.embeddings.dimension.count"] == dims
    assert prompt in a["gen_ai.input.messages"]
    values = _floats(answer)
    assert len(values) >= 384
    exported = json.dumps(dict(a))
    assert not any(json.dumps(v) in exported for v in values[:20] if abs(v) > 0.01)  # no vector values exported
    assert "gen_ai.output.messages" not in a


def test_cohere_embed_encoding_formats(tap: Any, client: Any) -> None:
    client.invoke_model(modelId="cohere.embed-multilingual-v3", body=json.dumps({"texts": ["x"], "input_type": "search_query", "embedding_types": ["float", "int8"]}))
    assert tap.span().attributes["gen_ai.request.encoding_formats"] == ("float", "int8")


@pytest.mark.parametrize(
    "model, body, prompt, count, extra",
    [
        (
            "amazon.nova-canvas-v1:0",
            {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a lighthouse at dusk", "negativeText": "people"},
             "imageGenerationConfig": {"numberOfImages": 2, "width": 1024, "height": 1024, "cfgScale": 6.5, "seed": 42, "quality": "premium"}},
            "a lighthouse at dusk",
            2,
            {"gen_ai.request.seed": 42, "genai_tap.request.width": 1024, "genai_tap.request.cfg_scale": 6.5, "genai_tap.request.quality": "premium", "genai_tap.request.task_type": "TEXT_IMAGE", "genai_tap.request.negative_prompt": "people"},
        ),
        (
            "amazon.titan-image-generator-v2:0",
            {"taskType": "IMAGE_VARIATION", "imageVariationParams": {"text": "brighter", "images": ["aGVsbG8="]}, "imageGenerationConfig": {"numberOfImages": 1}},
            "brighter",
            1,
            {"genai_tap.request.task_type": "IMAGE_VARIATION"},
        ),
        (
            "stability.sd3-5-large-v1:0",
            {"prompt": "a red fox in snow", "mode": "text-to-image", "aspect_ratio": "16:9", "output_format": "png", "seed": 7},
            "a red fox in snow",
            1,
            {"gen_ai.request.seed": 7, "genai_tap.request.aspect_ratio": "16:9"},
        ),
        (
            "stability.stable-diffusion-xl-v1",
            {"text_prompts": [{"text": "a castle", "weight": 1}], "cfg_scale": 10, "steps": 30, "seed": 3, "samples": 1},
            "a castle",
            1,
            {"genai_tap.request.steps": 30},
        ),
    ],
)
def test_image_generation(model: str, body: dict, prompt: str, count: int, extra: dict, tap: Any, client: Any) -> None:
    resp = client.invoke_model(modelId=model, body=json.dumps(body))
    a = tap.span().attributes
    assert json.loads(resp["body"].read())  # images reach the app
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.output.type"] == "image"
    assert a["genai_tap.output.count"] == count
    for key, value in extra.items():
        assert a[key] == value, key
    inputs = json.loads(a["gen_ai.input.messages"])
    assert inputs[0]["parts"][0] == {"type": "text", "content": prompt}
    exported = json.dumps(dict(a))
    assert "iVBOR" not in exported and "aGVsbG8=" not in exported  # no image bytes, in or out


def test_negative_prompt_is_content(tap_no_content: Any, client: Any) -> None:
    body = {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a dog", "negativeText": "cats"}}
    client.invoke_model(modelId="amazon.nova-canvas-v1:0", body=json.dumps(body))
    a = tap_no_content.span().attributes
    assert "cats" not in json.dumps(dict(a)) and "a dog" not in json.dumps(dict(a))
    assert a["genai_tap.request.task_type"] == "TEXT_IMAGE"


def test_nova_reel_async_invoke(tap: Any, client: Any) -> None:
    resp = client.start_async_invoke(
        modelId="amazon.nova-reel-v1:1",
        modelInput={
            "taskType": "TEXT_VIDEO",
            "textToVideoParams": {"text": "waves on a beach at sunset"},
            "videoGenerationConfig": {"durationSeconds": 6, "fps": 24, "dimension": "1280x720", "seed": 11},
        },
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://my-bucket/videos/"}},
    )
    span = tap.span()
    a = span.attributes
    assert span.name == "generate_content amazon.nova-reel-v1:1"
    assert a["genai_tap.bedrock.api"] == "StartAsyncInvoke"
    assert a["gen_ai.output.type"] == "video"
    assert a["gen_ai.response.id"] == resp["invocationArn"]
    assert a["gen_ai.request.seed"] == 11 and a["genai_tap.request.duration_seconds"] == 6
    assert "waves on a beach" in a["gen_ai.input.messages"]
    # the job's status calls are not model calls: no span for them
    client.get_async_invoke(invocationArn=resp["invocationArn"])
    assert len(tap.spans()) == 1
