"""Differential check: the same apps, with and without genai-tap, see exactly the same thing.

Each app runs twice in a fresh process against an emulator whose ids are derived
from the request (so two identical runs get identical answers). Its stdout
(every response field, every body byte, every exception) and exit code must be
identical, and Bedrock must receive byte-identical requests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .support.apps import aws_env, run_both

PRELUDE = """
import hashlib, json, sys
import boto3, botocore
client = boto3.client("bedrock-runtime")

def show(label, resp):
    body = resp.get("body")
    meta = {k: v for k, v in resp.items() if k not in ("ResponseMetadata", "body")}
    headers = {k: v for k, v in resp["ResponseMetadata"]["HTTPHeaders"].items() if k != "date"}
    print(label, type(resp).__name__, json.dumps(meta, sort_keys=True, default=str), json.dumps(headers, sort_keys=True))
    return body

def fails(label, fn):
    try:
        fn()
    except Exception as exc:
        print(label, type(exc).__module__, type(exc).__name__, str(exc), json.dumps(getattr(exc, "response", {}).get("Error", {})))
    else:
        print(label, "no error")
"""

APPS = {
    "invoke_families": PRELUDE + """
calls = [
    ("us.amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "Hi Nova"}]}]}),
    ("anthropic.claude-3-haiku-20240307-v1:0", {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi Claude"}]}),
    ("amazon.titan-text-express-v1", {"inputText": "Hi Titan"}),
    ("meta.llama3-8b-instruct-v1:0", {"prompt": "Hi Llama", "max_gen_len": 40}),
    ("mistral.mistral-7b-instruct-v0:2", {"prompt": "<s>[INST] Hi [/INST]"}),
    ("mistral.mistral-large-2407-v1:0", {"messages": [{"role": "user", "content": "Hi"}]}),
    ("cohere.command-r-v1:0", {"message": "Hi Cohere"}),
    ("ai21.jamba-1-5-large-v1:0", {"messages": [{"role": "user", "content": "Hi Jamba"}]}),
    ("deepseek.r1-v1:0", {"prompt": "Hi DeepSeek"}),
    ("openai.gpt-oss-120b-1:0", {"messages": [{"role": "user", "content": "Hi GPT"}]}),
]
readers = [
    lambda b: b.read(),
    lambda b: b"".join(iter(lambda: b.read(16), b"")),
    lambda b: b"".join(b.iter_chunks(5)),
    lambda b: b"|".join(b.iter_lines()),
]
for i, (model, body) in enumerate(calls):
    resp = client.invoke_model(modelId=model, body=json.dumps(body), contentType="application/json", accept="application/json")
    stream = show(model, resp)
    print(type(stream).__name__, readers[i % len(readers)](stream), stream.read())
""",
    "converse_tools": PRELUDE + """
tools = {"tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]}
messages = [{"role": "user", "content": [{"text": "Weather?"}]}]
first = client.converse(modelId="amazon.nova-pro-v1:0", messages=messages, toolConfig=tools, system=[{"text": "be brief"}])
show("first", first)
use = first["output"]["message"]["content"][-1]["toolUse"]
messages += [first["output"]["message"], {"role": "user", "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "sunny"}]}}]}]
show("second", client.converse(modelId="amazon.nova-pro-v1:0", messages=messages, toolConfig=tools))
""",
    "errors": PRELUDE + """
fails("unknown model", lambda: client.invoke_model(modelId="amazon.unknown-v1:0", body=b"{}"))
fails("bad body", lambda: client.invoke_model(modelId="amazon.nova-lite-v1:0", body=b"not json"))
fails("converse on embeddings", lambda: client.converse(modelId="amazon.titan-embed-text-v2:0", messages=[{"role": "user", "content": [{"text": "x"}]}]))
fails("missing param", lambda: client.converse(modelId="amazon.nova-lite-v1:0"))
fails("bad arn", lambda: client.invoke_model(modelId="arn:aws:bedrock:us-east-1:1:provisioned-model/none", body=b"{}"))
""",
    "media": PRELUDE + """
for model, body in [
    ("amazon.titan-embed-text-v2:0", {"inputText": "vector me", "dimensions": 256}),
    ("cohere.embed-english-v3", {"texts": ["a", "b"], "input_type": "search_query"}),
    ("amazon.nova-canvas-v1:0", {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a boat"}, "imageGenerationConfig": {"numberOfImages": 2}}),
    ("stability.sd3-5-large-v1:0", {"prompt": "a boat", "aspect_ratio": "1:1"}),
]:
    data = show(model, client.invoke_model(modelId=model, body=json.dumps(body))).read()
    print(len(data), hashlib.sha256(data).hexdigest())
job = client.start_async_invoke(clientRequestToken="demo-token-0001", modelId="amazon.nova-reel-v1:0", modelInput={"taskType": "TEXT_VIDEO", "textToVideoParams": {"text": "waves"}}, outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://b/"}})
show("job", job)
""",
    "unread_and_closed": PRELUDE + """
r1 = client.invoke_model(modelId="amazon.nova-micro-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": "one"}]}]}))
r2 = client.invoke_model(modelId="amazon.nova-micro-v1:0", body=json.dumps({"messages": [{"role": "user", "content": [{"text": "two"}]}]}))
r2["body"].close()
print(r1["body"].read(7), r1["body"].read(), r2["body"].__class__.__name__)
sys.exit(3)
""",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPS))
def test_same_output_with_and_without_genai_tap(name: str, deterministic_emulator: Any, otlp: Any, tmp_path: Path) -> None:
    env = aws_env(deterministic_emulator.url)
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp.url
    run_both(APPS[name], deterministic_emulator, env, tmp_path).assert_same()
    assert otlp.wait_for(otlp.spans), "the traced run produced spans"
