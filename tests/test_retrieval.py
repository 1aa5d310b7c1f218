"""Knowledge Bases: Retrieve, RetrieveAndGenerate and RetrieveAndGenerateStream.

Real boto3 and aiobotocore clients against the emulator's knowledge base (six documents
over six location types, word-overlap scores, cited answers).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from genai_tap import semconv as sc

KB = "KB12345678"
ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
QUESTION = "How many vacation days do employees get?"


def client() -> Any:
    return boto3.client("bedrock-agent-runtime", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def aio_client() -> Any:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    return get_session().create_client("bedrock-agent-runtime", config=AioConfig(retries={"total_max_attempts": 1}))


def rag_config(**generation: Any) -> Dict[str, Any]:
    kb: Dict[str, Any] = {"knowledgeBaseId": KB, "modelArn": ARN, "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}}}
    if generation:
        kb["generationConfiguration"] = generation
    return {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": kb}


def children(spans: List[Any], parent: Any) -> List[Any]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


# --------------------------------------------------------------------------- Retrieve


def test_retrieve(tap: Any, fresh_emulator: Any) -> None:
    response = client().retrieve(
        knowledgeBaseId=KB, retrievalQuery={"text": "vacation days"}, retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 2}}
    )
    results = response["retrievalResults"]
    span = tap.span()
    a = span.attributes
    assert span.name == f"retrieval {KB}" and span.kind.name == "CLIENT"
    assert a[sc.OPERATION_NAME] == "retrieval" and a[sc.PROVIDER_NAME] == "aws.bedrock" and a[sc.BEDROCK_API] == "Retrieve"
    assert a[sc.DATA_SOURCE_ID] == KB and a[sc.AWS_BEDROCK_KNOWLEDGE_BASE_ID] == KB
    assert a[sc.RETRIEVAL_TOP_K] == 2 and a[sc.RETRIEVAL_DOCUMENT_COUNT] == len(results) == 2
    assert a[sc.RETRIEVAL_QUERY_TEXT] == "vacation days"
    assert sc.REQUEST_MODEL not in a
    docs = json.loads(a[sc.RETRIEVAL_DOCUMENTS])
    assert [d["score"] for d in docs] == [r["score"] for r in results]
    assert docs[0]["content"] == results[0]["content"]["text"] and docs[0]["id"] == docs[0]["uri"]
    assert docs[0]["metadata"] == results[0]["metadata"]


def test_every_location_type_is_a_document_uri(tap: Any, fresh_emulator: Any) -> None:
    results = client().retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "employees travel remote security expenses handbook policy"},
                                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 10}})["retrievalResults"]
    docs = json.loads(tap.span().attributes[sc.RETRIEVAL_DOCUMENTS])
    kinds = {r["location"]["type"] for r in results}
    assert len(kinds) >= 4  # S3, web, Confluence, SharePoint ... each with its own field
    assert all(d.get("uri") for d in docs) and len({d["uri"] for d in docs}) == len(docs)


def test_retrieve_without_content_keeps_the_count(tap_no_content: Any, fresh_emulator: Any) -> None:
    client().retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "vacation days"})
    a = tap_no_content.span().attributes
    assert a[sc.RETRIEVAL_DOCUMENT_COUNT] > 0
    assert sc.RETRIEVAL_QUERY_TEXT not in a and sc.RETRIEVAL_DOCUMENTS not in a
    assert "vacation" not in json.dumps(dict(a))


def test_retrieve_refused(tap: Any, fresh_emulator: Any) -> None:
    with pytest.raises(ClientError):
        client().retrieve(knowledgeBaseId="NOTFOUND01", retrievalQuery={"text": "x"})
    span = tap.span()
    assert span.status.status_code.name == "ERROR" and span.attributes[sc.ERROR_TYPE] == "ResourceNotFoundException"
    assert span.attributes[sc.DATA_SOURCE_ID] == "NOTFOUND01"


def test_retrieve_with_a_guardrail(tap: Any, fresh_emulator: Any) -> None:
    client().retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "which stocks should I buy"},
                      guardrailConfiguration={"guardrailId": "gr1", "guardrailVersion": "1"})
    a = tap.span().attributes
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ID] == "gr1" and a[sc.AWS_BEDROCK_GUARDRAIL_VERSION] == "1"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED"


def test_retrieve_through_aiobotocore(tap: Any, fresh_emulator: Any) -> None:
    async def main() -> Any:
        async with aio_client() as c:
            return await c.retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "vacation days"})

    results = asyncio.run(main())["retrievalResults"]
    a = tap.span().attributes
    assert a[sc.RETRIEVAL_DOCUMENT_COUNT] == len(results) and a[sc.DATA_SOURCE_ID] == KB


# --------------------------------------------------------------------------- RetrieveAndGenerate


def test_retrieve_and_generate_is_a_chat_with_a_retrieval_step(tap: Any, fresh_emulator: Any) -> None:
    text = {"textInferenceConfig": {"maxTokens": 300, "temperature": 0.2, "topP": 0.9}}
    response = client().retrieve_and_generate(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config(inferenceConfig=text))
    spans = tap.spans()
    (root,) = [s for s in spans if s.parent is None]
    a = root.attributes
    assert root.name == f"chat {ARN}" and root.kind.name == "CLIENT"
    assert a[sc.OPERATION_NAME] == "chat" and a[sc.REQUEST_MODEL] == ARN and a[sc.MODEL_BASE_ID] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert a[sc.BEDROCK_API] == "RetrieveAndGenerate" and a[sc.CONVERSATION_ID] == response["sessionId"]
    assert a[sc.AWS_BEDROCK_KNOWLEDGE_BASE_ID] == KB
    assert (a[sc.REQUEST_MAX_TOKENS], a[sc.REQUEST_TEMPERATURE], a[sc.REQUEST_TOP_P]) == (300, 0.2, 0.9)
    assert json.loads(a[sc.INPUT_MESSAGES])[0]["parts"][0]["content"] == QUESTION
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == response["output"]["text"]
    (lookup,) = children(spans, root)
    b = lookup.attributes
    assert lookup.name == f"retrieval {KB}" and lookup.kind.name == "INTERNAL"
    assert (lookup.start_time, lookup.end_time) == (root.start_time, root.end_time)
    assert b[sc.DATA_SOURCE_ID] == KB and b[sc.RETRIEVAL_TOP_K] == 3 and b[sc.RETRIEVAL_QUERY_TEXT] == QUESTION
    cited = [r for c in response["citations"] for r in c["retrievedReferences"]]
    docs = json.loads(b[sc.RETRIEVAL_DOCUMENTS])
    assert b[sc.RETRIEVAL_DOCUMENT_COUNT] == len(docs) == len({r["location"]["s3Location"]["uri"] if "s3Location" in r["location"] else json.dumps(r["location"]) for r in cited})
    assert docs[0]["content"] == cited[0]["content"]["text"]


def test_retrieve_and_generate_session_sent_by_the_app(tap: Any, fresh_emulator: Any) -> None:
    first = client().retrieve_and_generate(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    client().retrieve_and_generate(input={"text": "And expenses?"}, retrieveAndGenerateConfiguration=rag_config(), sessionId=first["sessionId"])
    sessions = [s.attributes[sc.CONVERSATION_ID] for s in tap.spans() if s.parent is None]
    assert sessions == [first["sessionId"]] * 2


def test_retrieve_and_generate_blocked_by_a_guardrail(tap: Any, fresh_emulator: Any) -> None:
    config = rag_config(guardrailConfiguration={"guardrailId": "gr1", "guardrailVersion": "DRAFT"})
    response = client().retrieve_and_generate(input={"text": "Give me stock tips"}, retrieveAndGenerateConfiguration=config)
    (root,) = [s for s in tap.spans() if s.parent is None]
    a = root.attributes
    assert response["guardrailAction"] == "INTERVENED"
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ACTION] == "INTERVENED" and a[sc.RESPONSE_FINISH_REASONS] == ("content_filter",)
    assert a[sc.AWS_BEDROCK_GUARDRAIL_ID] == "gr1"


def test_retrieve_and_generate_refused_has_no_retrieval_step(tap: Any, fresh_emulator: Any) -> None:
    fresh_emulator.add_fault("ThrottlingException", operation="RetrieveAndGenerate")
    with pytest.raises(ClientError):
        client().retrieve_and_generate(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    span = tap.span()
    assert span.attributes[sc.ERROR_TYPE] == "ThrottlingException"


def test_retrieve_and_generate_stream(tap: Any, fresh_emulator: Any) -> None:
    response = client().retrieve_and_generate_stream(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    events = list(response["stream"])
    spans = tap.spans()
    (root,) = [s for s in spans if s.parent is None]
    a = root.attributes
    text = "".join(e["output"]["text"] for e in events if "output" in e)
    assert root.name == f"chat {ARN}" and a[sc.BEDROCK_API] == "RetrieveAndGenerateStream" and a[sc.REQUEST_STREAM] is True
    assert a[sc.CONVERSATION_ID] == response["sessionId"] and a[sc.STREAM_CHUNKS] == len(events)
    assert json.loads(a[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == text
    assert 0 < a[sc.RESPONSE_TIME_TO_FIRST_CHUNK]
    (lookup,) = children(spans, root)
    refs = [r for e in events if "citation" in e for r in e["citation"].get("retrievedReferences", [])]
    assert lookup.attributes[sc.RETRIEVAL_DOCUMENT_COUNT] == len({r["content"]["text"] for r in refs}) > 0


def test_retrieve_and_generate_stream_stopped_early(tap: Any, fresh_emulator: Any) -> None:
    response = client().retrieve_and_generate_stream(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    stream = response["stream"]
    for i, _ in enumerate(stream):
        if i == 2:
            break
    stream.close()
    spans = tap.spans()
    (root,) = [s for s in spans if s.parent is None]
    assert root.attributes[sc.STREAM_STOPPED_EARLY] is True and root.attributes[sc.STREAM_CHUNKS] == 3
    (lookup,) = children(spans, root)
    assert lookup.attributes[sc.RETRIEVAL_DOCUMENT_COUNT] == 0  # no citation read yet


def test_retrieve_and_generate_stream_through_aiobotocore(tap: Any, fresh_emulator: Any) -> None:
    async def main() -> List[Any]:
        async with aio_client() as c:
            response = await c.retrieve_and_generate_stream(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
            return [e async for e in response["stream"]]

    events = asyncio.run(main())
    (root,) = [s for s in tap.spans() if s.parent is None]
    text = "".join(e["output"]["text"] for e in events if "output" in e)
    assert json.loads(root.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == text


def test_retrieve_and_generate_without_content(tap_no_content: Any, fresh_emulator: Any) -> None:
    client().retrieve_and_generate(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    list(client().retrieve_and_generate_stream(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())["stream"])
    spans = tap_no_content.spans()
    exported = json.dumps([dict(s.attributes) for s in spans])
    assert "vacation" not in exported and "employees" not in exported.lower()
    counts = [s.attributes[sc.RETRIEVAL_DOCUMENT_COUNT] for s in spans if s.name.startswith("retrieval")]
    assert len(counts) == 2 and all(n > 0 for n in counts)


def test_metrics(tap: Any, fresh_emulator: Any) -> None:
    client().retrieve(knowledgeBaseId=KB, retrievalQuery={"text": "vacation days"})
    client().retrieve_and_generate(input={"text": QUESTION}, retrieveAndGenerateConfiguration=rag_config())
    points = tap.metric_points()[sc.METRIC_OPERATION_DURATION]
    seen = sorted((dict(p.attributes)[sc.OPERATION_NAME], dict(p.attributes).get(sc.REQUEST_MODEL)) for p in points)
    assert seen == [("chat", ARN), ("retrieval", None)]  # the retrieval step of the chat is not a call of its own
