"""The emulator's new operations through real aiobotocore (aiohttp transport, async event streams)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Dict, List

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, EventStreamError

KB_CONFIG = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "KB12345678", "modelArn": "amazon.nova-lite-v1:0"}}


def run(url: str, service: str, body: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with get_session().create_client(
            service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
            config=AioConfig(retries={"total_max_attempts": 1}),
        ) as client:
            return await body(client)

    return asyncio.run(main())


async def drain(stream: Any) -> List[Dict[str, Any]]:
    return [event async for event in stream]


def test_invoke_agent_stream(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        response = await client.invoke_agent(agentId="AGENT12345", agentAliasId="ALIAS12345", sessionId="async-1",
                                             inputText="Ask the team about the weather in Oslo", enableTrace=True)
        return response, await drain(response["completion"])

    response, events = run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert response["sessionId"] == "async-1"
    chains = {len(e["trace"]["callerChain"]) for e in events if "trace" in e}
    assert chains == {1, 2}
    assert b"".join(e["chunk"]["bytes"] for e in events if "chunk" in e).decode().startswith("Here is what my team found:")


@pytest.mark.slow
def test_invoke_inline_agent_stream_and_return_control(fresh_emulator: Any) -> None:
    group = {"actionGroupName": "Flights", "actionGroupExecutor": {"customControl": "RETURN_CONTROL"},
             "functionSchema": {"functions": [{"name": "find_flights", "parameters": {"destination": {"type": "string"}}}]}}

    async def call(client: Any) -> Any:
        response = await client.invoke_inline_agent(
            sessionId="async-2", inputText="Fly me to Rome", enableTrace=True, foundationModel="amazon.nova-pro-v1:0",
            instruction="You are a travel agent who books flights for the user.", actionGroups=[group])
        return await drain(response["completion"])

    events = run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert events[-1]["returnControl"]["invocationInputs"][0]["functionInvocationInput"]["function"] == "find_flights"


def test_invoke_agent_mid_stream_error(fresh_emulator: Any) -> None:
    fresh_emulator.add_fault("internalServerException", operation="InvokeAgent", after=1)

    async def call(client: Any) -> Any:
        response = await client.invoke_agent(agentId="AGENT12345", agentAliasId="ALIAS12345", sessionId="async-3", inputText="hi", enableTrace=True)
        return await drain(response["completion"])

    with pytest.raises(EventStreamError) as caught:
        run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert caught.value.response["Error"]["Code"] == "internalServerException"


def test_retrieve_and_generate_stream(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        response = await client.retrieve_and_generate_stream(input={"text": "How many vacation days?"}, retrieveAndGenerateConfiguration=KB_CONFIG)
        return await drain(response["stream"])

    events = run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert "".join(e["output"]["text"] for e in events if "output" in e).startswith("According to the sources")
    assert any("citation" in e for e in events)


@pytest.mark.slow
def test_retrieve_json(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        return await client.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "passwords"})

    response = run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert response["retrievalResults"][0]["location"]["type"] == "SHAREPOINT"


def test_retrieve_error(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        return await client.retrieve(knowledgeBaseId="NOTFOUND01", retrievalQuery={"text": "x"})

    with pytest.raises(ClientError) as caught:
        run(fresh_emulator.url, "bedrock-agent-runtime", call)
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_apply_guardrail_json(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        return await client.apply_guardrail(guardrailIdentifier="gr01", guardrailVersion="1", source="OUTPUT",
                                            content=[{"text": {"text": "write to jane@example.com"}}])

    response = run(fresh_emulator.url, "bedrock-runtime", call)
    assert response["action"] == "GUARDRAIL_INTERVENED" and response["outputs"] == [{"text": "write to {EMAIL}"}]


def test_converse_stream_with_guardrail(fresh_emulator: Any) -> None:
    async def call(client: Any) -> Any:
        response = await client.converse_stream(
            modelId="amazon.nova-lite-v1:0", messages=[{"role": "user", "content": [{"text": "Give me investment advice"}]}],
            guardrailConfig={"guardrailIdentifier": "gr01", "guardrailVersion": "1", "trace": "enabled"})
        return await drain(response["stream"])

    events = run(fresh_emulator.url, "bedrock-runtime", call)
    assert {"messageStop": {"stopReason": "guardrail_intervened"}} in events
    assert "guardrail" in events[-1]["metadata"]["trace"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "model,body",
    [
        ("anthropic.claude-instant-v1", {"prompt": "\n\nHuman: Hi\n\nAssistant:", "max_tokens_to_sample": 50}),
        ("cohere.command-light-text-v14", {"prompt": "Hi", "num_generations": 2, "stream": True}),
    ],
)
def test_legacy_invoke_streams(fresh_emulator: Any, model: str, body: Dict[str, Any]) -> None:
    async def call(client: Any) -> Any:
        response = await client.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
        return [json.loads(e["chunk"]["bytes"]) for e in await drain(response["body"])]

    chunks = run(fresh_emulator.url, "bedrock-runtime", call)
    assert "amazon-bedrock-invocationMetrics" in chunks[-1] and len(chunks) > 2
