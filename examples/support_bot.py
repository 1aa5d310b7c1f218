"""A plain boto3 support bot: Claude through Converse, with a tool round trip. No genai-tap in sight."""

import boto3

client = boto3.client("bedrock-runtime", region_name="us-east-1")
MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
tools = {
    "tools": [
        {
            "toolSpec": {
                "name": "order_status",
                "description": "Look up the status of an order",
                "inputSchema": {"json": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}},
            }
        }
    ]
}
messages = [{"role": "user", "content": [{"text": "Where is my order A-1042?"}]}]
system = [{"text": "You are the support assistant of a small shop. Use tools when needed."}]

first = client.converse(
    modelId=MODEL, messages=messages, system=system, toolConfig=tools, inferenceConfig={"maxTokens": 400, "temperature": 0.2}
)
use = next(b["toolUse"] for b in first["output"]["message"]["content"] if "toolUse" in b)
print(f"model asked for {use['name']}({use['input']})")
messages += [
    first["output"]["message"],
    {
        "role": "user",
        "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": {"status": "shipped", "eta": "tomorrow"}}]}}],
    },
]
final = client.converse(modelId=MODEL, messages=messages, system=system, toolConfig=tools)
print(final["output"]["message"]["content"][0]["text"])
