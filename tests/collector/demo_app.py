"""A plain boto3 app for the end-to-end test: a few Bedrock calls and one that fails."""
import json

import boto3
from botocore.exceptions import ClientError

client = boto3.client("bedrock-runtime", region_name="us-east-1")
for question in ("What is the capital of France?", "And of Italy?"):
    client.converse(
        modelId="us.amazon.nova-lite-v1:0",
        system=[{"text": "Answer in one word."}],
        messages=[{"role": "user", "content": [{"text": question}]}],
        inferenceConfig={"maxTokens": 50, "temperature": 0.2},
    )
body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
        "messages": [{"role": "user", "content": "Name a prime number."}]}
client.invoke_model(modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(body))
try:
    client.converse(modelId="amazon.no-such-model-v1:0", messages=[{"role": "user", "content": [{"text": "hi"}]}])
except ClientError as exc:
    print("failed as planned:", exc.response["Error"]["Code"])
