"""A plain boto3 chat UI backend: streamed answers from Nova and Llama. No genai-tap in sight."""
import json

import boto3

client = boto3.client("bedrock-runtime", region_name="us-east-1")

response = client.converse_stream(
    modelId="us.amazon.nova-pro-v1:0",
    messages=[{"role": "user", "content": [{"text": "Explain distributed tracing in two sentences"}]}],
)
for event in response["stream"]:
    if "contentBlockDelta" in event:
        print(event["contentBlockDelta"]["delta"].get("text", ""), end="", flush=True)
print()

body = {"prompt": "<|begin_of_text|>Write a haiku about logs", "max_gen_len": 128}
response = client.invoke_model_with_response_stream(modelId="us.meta.llama3-2-11b-instruct-v1:0", body=json.dumps(body))
for event in response["body"]:
    print(json.loads(event["chunk"]["bytes"]).get("generation", ""), end="", flush=True)
print()
