"""A plain boto3 indexing job: Titan v2 embeddings for a few documents. No genai-tap in sight."""
import json

import boto3

client = boto3.client("bedrock-runtime", region_name="us-east-1")
docs = ["Refunds are processed within five days.", "Orders ship from Lyon.", "Support is open on weekdays."]
for doc in docs:
    response = client.invoke_model(modelId="amazon.titan-embed-text-v2:0", body=json.dumps({"inputText": doc, "dimensions": 512}))
    vector = json.loads(response["body"].read())["embedding"]
    print(f"{len(vector)} dims for: {doc}")
