"""A plain boto3 app: one Amazon Nova Lite call through InvokeModel. No genai-tap in sight."""
import json

import boto3

client = boto3.client("bedrock-runtime", region_name="us-east-1")
body = {
    "schemaVersion": "messages-v1",
    "system": [{"text": "You are a concise assistant."}],
    "messages": [{"role": "user", "content": [{"text": "What is the capital of France?"}]}],
    "inferenceConfig": {"maxTokens": 200, "temperature": 0.3, "topP": 0.9},
}
response = client.invoke_model(modelId="us.amazon.nova-lite-v1:0", body=json.dumps(body))
answer = json.loads(response["body"].read())
print(answer["output"]["message"]["content"][0]["text"])
