"""A plain boto3 batch job that keeps going when Bedrock throttles it. No genai-tap in sight."""
import json

import boto3
from botocore.config import Config

client = boto3.client("bedrock-runtime", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
done = failed = 0
for i in range(12):
    body = {"messages": [{"role": "user", "content": [{"text": f"Summarise ticket #{i}"}]}], "inferenceConfig": {"maxTokens": 100}}
    try:
        client.invoke_model(modelId="amazon.nova-micro-v1:0", body=json.dumps(body))["body"].read()
        done += 1
    except client.exceptions.ThrottlingException:
        failed += 1
print(f"batch finished: {done} summarised, {failed} throttled")
