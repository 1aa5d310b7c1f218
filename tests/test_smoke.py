import json


def test_nova_invoke_model_span(tap, client):
    body = {"messages": [{"role": "user", "content": [{"text": "Hi there"}]}], "inferenceConfig": {"maxTokens": 50}}
    resp = client.invoke_model(modelId="amazon.nova-lite-v1:0", body=json.dumps(body))
    out = json.loads(resp["body"].read())
    assert out["output"]["message"]["content"][0]["text"].startswith("Hello")
    span = tap.span()
    assert span.name == "chat amazon.nova-lite-v1:0"
    assert span.attributes["gen_ai.usage.input_tokens"] == 2
