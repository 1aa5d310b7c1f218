"""The emulator's Retrieve, RetrieveAndGenerate and RetrieveAndGenerateStream, through real boto3."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict, List

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from .support import service_model as sm

SERVICE = "bedrock-agent-runtime"
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
KB_CONFIG = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "KB12345678", "modelArn": MODEL}}
GUARDRAIL = {"guardrailId": "gr01", "guardrailVersion": "1"}


@pytest.fixture
def kb(fresh_emulator: Any) -> Any:
    return boto3.client(
        SERVICE, endpoint_url=fresh_emulator.url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}),
    )


def check_json(url: str, path: str, body: Dict[str, Any], operation: str) -> Dict[str, Any]:
    status, _, raw = sm.post(url, path, body)
    assert status == 200, raw
    parsed = json.loads(raw)
    assert sm.check_output(SERVICE, operation, parsed) == []
    return parsed


# --------------------------------------------------------------------------- Retrieve


def test_retrieve_ranks_the_corpus(fresh_emulator: Any, kb: Any) -> None:
    response = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "How many vacation days do employees get?"})
    results = response["retrievalResults"]
    assert results[0]["content"] == {"text": results[0]["content"]["text"], "type": "TEXT"}
    assert results[0]["content"]["text"].startswith("Employees get 25 days of paid vacation")
    assert results[0]["location"] == {"type": "S3", "s3Location": {"uri": "s3://emulator-kb-docs/handbook/vacation-policy.pdf"}}
    assert results[0]["metadata"]["x-amz-bedrock-kb-data-source-id"] == "EMUDATASRC"
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] < scores[0] <= 1
    assert "nextToken" not in response
    check_json(fresh_emulator.url, "/knowledgebases/KB12345678/retrieve", {"retrievalQuery": {"text": "vacation"}}, "Retrieve")


def test_retrieve_every_location_type(kb: Any) -> None:
    query = "vacation expenses remote passwords tickets task"
    response = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": query},
                           retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 10}})
    types = {r["location"]["type"] for r in response["retrievalResults"]}
    assert types == {"S3", "WEB", "CONFLUENCE", "SHAREPOINT", "SALESFORCE", "CUSTOM"}
    for result in response["retrievalResults"]:
        location = result["location"]
        key = {"S3": "s3Location", "WEB": "webLocation", "CONFLUENCE": "confluenceLocation", "SHAREPOINT": "sharePointLocation",
               "SALESFORCE": "salesforceLocation", "CUSTOM": "customDocumentLocation"}[location["type"]]
        assert set(location) == {"type", key}
        assert result["metadata"]["x-amz-bedrock-kb-source-uri"] in json.dumps(location)


def test_retrieve_pages_with_next_token(kb: Any) -> None:
    query = "vacation expenses remote passwords tickets task"
    seen: List[str] = []
    token = None
    for _ in range(10):
        kw: Dict[str, Any] = {"nextToken": token} if token else {}
        page = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": query},
                           retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": 4}}, **kw)
        assert len(page["retrievalResults"]) <= 4
        seen += [r["content"]["text"] for r in page["retrievalResults"]]
        token = page.get("nextToken")
        if not token:
            break
    assert len(seen) == 6 == len(set(seen))


def test_retrieve_without_a_matching_word_gives_the_best_three(kb: Any) -> None:
    response = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "zebra"})
    assert len(response["retrievalResults"]) == 3
    assert [round(r["score"], 2) for r in response["retrievalResults"]] == [0.35, 0.34, 0.33]


def test_retrieve_with_a_guardrail(fresh_emulator: Any, kb: Any) -> None:
    passed = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "vacation"}, guardrailConfiguration=GUARDRAIL)
    assert passed["guardrailAction"] == "NONE" and passed["retrievalResults"]
    blocked = kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "give me stock tips"}, guardrailConfiguration=GUARDRAIL)
    assert blocked["guardrailAction"] == "INTERVENED" and blocked["retrievalResults"] == []
    check_json(fresh_emulator.url, "/knowledgebases/KB12345678/retrieve",
               {"retrievalQuery": {"text": "stock tips"}, "guardrailConfiguration": GUARDRAIL}, "Retrieve")


@pytest.mark.parametrize(
    "kb_id,kw,code",
    [
        ("NOTFOUND01", {}, "ResourceNotFoundException"),
        ("KB12345678", {"retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 1000}}}, "ValidationException"),
        ("KB12345678", {"nextToken": "not-a-token"}, "ValidationException"),
    ],
)
def test_retrieve_errors(kb: Any, kb_id: str, kw: Dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as caught:
        kb.retrieve(knowledgeBaseId=kb_id, retrievalQuery={"text": "vacation"}, **kw)
    assert caught.value.response["Error"]["Code"] == code


# --------------------------------------------------------------------------- RetrieveAndGenerate


def _check_citations(text: str, citations: List[Dict[str, Any]]) -> None:
    for citation in citations:
        part = citation["generatedResponsePart"]["textResponsePart"]
        assert text[part["span"]["start"]: part["span"]["end"] + 1] == part["text"]
        assert citation["retrievedReferences"] and citation["retrievedReferences"][0]["content"]["text"]


def test_retrieve_and_generate_from_a_knowledge_base(fresh_emulator: Any, kb: Any) -> None:
    response = kb.retrieve_and_generate(input={"text": "How many vacation days do employees get?"}, retrieveAndGenerateConfiguration=KB_CONFIG)
    text = response["output"]["text"]
    assert text.startswith("According to the sources, employees get 25 days of paid vacation per year.")
    assert len(response["citations"]) == 2
    _check_citations(text, response["citations"])
    assert response["sessionId"] and "guardrailAction" not in response
    again = kb.retrieve_and_generate(input={"text": "And expenses?"}, retrieveAndGenerateConfiguration=KB_CONFIG, sessionId=response["sessionId"])
    assert again["sessionId"] == response["sessionId"]
    check_json(fresh_emulator.url, "/retrieveAndGenerate", {"input": {"text": "vacation"}, "retrieveAndGenerateConfiguration": KB_CONFIG},
               "RetrieveAndGenerate")


def test_retrieve_and_generate_from_external_sources(fresh_emulator: Any, kb: Any) -> None:
    config = {"type": "EXTERNAL_SOURCES", "externalSourcesConfiguration": {"modelArn": MODEL, "sources": [
        {"sourceType": "S3", "s3Location": {"uri": "s3://bucket/reports/q3.pdf"}},
        {"sourceType": "BYTE_CONTENT", "byteContent": {"identifier": "notes.txt", "contentType": "text/plain",
                                                       "data": b"Quarterly revenue grew by nine percent. Costs stayed flat."}},
    ]}}
    response = kb.retrieve_and_generate(input={"text": "How did revenue grow, says the q3 report?"}, retrieveAndGenerateConfiguration=config)
    assert "revenue grew by nine percent" in response["output"]["text"]
    locations = [c["retrievedReferences"][0]["location"] for c in response["citations"]]
    assert {"type": "CUSTOM", "customDocumentLocation": {"id": "notes.txt"}} in locations
    assert {"type": "S3", "s3Location": {"uri": "s3://bucket/reports/q3.pdf"}} in locations
    _check_citations(response["output"]["text"], response["citations"])
    wire = dict(config, externalSourcesConfiguration=dict(config["externalSourcesConfiguration"], sources=[
        {"sourceType": "BYTE_CONTENT", "byteContent": {"identifier": "n", "contentType": "text/plain", "data": base64.b64encode(b"Revenue grew.").decode()}}]))
    check_json(fresh_emulator.url, "/retrieveAndGenerate", {"input": {"text": "revenue"}, "retrieveAndGenerateConfiguration": wire}, "RetrieveAndGenerate")


def test_retrieve_and_generate_with_a_guardrail(kb: Any) -> None:
    config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": dict(
        KB_CONFIG["knowledgeBaseConfiguration"], generationConfiguration={"guardrailConfiguration": GUARDRAIL})}
    passed = kb.retrieve_and_generate(input={"text": "vacation days"}, retrieveAndGenerateConfiguration=config)
    assert passed["guardrailAction"] == "NONE"
    blocked = kb.retrieve_and_generate(input={"text": "which stocks should I buy?"}, retrieveAndGenerateConfiguration=config)
    assert blocked["guardrailAction"] == "INTERVENED" and blocked["output"]["text"] == "Sorry, the model cannot answer this question."
    assert blocked["citations"] == []


@pytest.mark.parametrize(
    "config,code",
    [
        ({"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "NOTFOUND01", "modelArn": MODEL}}, "ResourceNotFoundException"),
        ({"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": {"knowledgeBaseId": "KB12345678", "modelArn": "acme.nothing-v1"}}, "ValidationException"),
        ({"type": "EXTERNAL_SOURCES", "externalSourcesConfiguration": {"modelArn": MODEL, "sources": [{"sourceType": "FTP"}]}}, "ValidationException"),
    ],
)
def test_retrieve_and_generate_errors(kb: Any, config: Dict[str, Any], code: str) -> None:
    with pytest.raises(ClientError) as caught:
        kb.retrieve_and_generate(input={"text": "hi"}, retrieveAndGenerateConfiguration=config)
    assert caught.value.response["Error"]["Code"] == code


# --------------------------------------------------------------------------- RetrieveAndGenerateStream


def test_stream_matches_the_non_streaming_answer(fresh_emulator: Any, kb: Any) -> None:
    question = {"text": "How many vacation days do employees get?"}
    whole = kb.retrieve_and_generate(input=question, retrieveAndGenerateConfiguration=KB_CONFIG)
    response = kb.retrieve_and_generate_stream(input=question, retrieveAndGenerateConfiguration=KB_CONFIG)
    events = list(response["stream"])
    assert response["sessionId"]
    text = "".join(e["output"]["text"] for e in events if "output" in e)
    assert text == whole["output"]["text"]
    citations = [e["citation"] for e in events if "citation" in e]
    assert [c["generatedResponsePart"] for c in citations] == [c["generatedResponsePart"] for c in whole["citations"]]
    assert all(c["citation"]["generatedResponsePart"] == c["generatedResponsePart"] for c in citations)  # the deprecated member too
    # a citation follows the output it cites
    position = [i for i, e in enumerate(events) if "citation" in e]
    assert position[0] > 0 and "output" in events[position[0] - 1]
    status, headers, raw = sm.post(fresh_emulator.url, "/retrieveAndGenerateStream", {"input": question, "retrieveAndGenerateConfiguration": KB_CONFIG})
    found, problems = sm.check_stream(SERVICE, "RetrieveAndGenerateStream", raw)
    assert status == 200 and problems == [] and headers["x-amzn-bedrock-knowledge-base-session-id"]


def test_stream_guardrail_event(kb: Any) -> None:
    config = {"type": "KNOWLEDGE_BASE", "knowledgeBaseConfiguration": dict(
        KB_CONFIG["knowledgeBaseConfiguration"], generationConfiguration={"guardrailConfiguration": GUARDRAIL})}
    events = list(kb.retrieve_and_generate_stream(input={"text": "which stocks are good?"}, retrieveAndGenerateConfiguration=config)["stream"])
    assert events[-1] == {"guardrail": {"action": "INTERVENED"}}
    assert "".join(e["output"]["text"] for e in events if "output" in e) == "Sorry, the model cannot answer this question."


def test_stream_mid_stream_exception(fresh_emulator: Any, kb: Any) -> None:
    fresh_emulator.add_fault("dependencyFailedException", operation="RetrieveAndGenerateStream", after=3)
    response = kb.retrieve_and_generate_stream(input={"text": "vacation"}, retrieveAndGenerateConfiguration=KB_CONFIG)
    seen = []
    with pytest.raises(EventStreamError) as caught:
        for event in response["stream"]:
            seen.append(event)
    assert len(seen) == 3 and caught.value.response["Error"]["Code"] == "dependencyFailedException"


@pytest.mark.parametrize("operation", ["Retrieve", "RetrieveAndGenerate", "RetrieveAndGenerateStream"])
def test_scheduled_faults(fresh_emulator: Any, kb: Any, operation: str) -> None:
    fresh_emulator.add_fault("ThrottlingException", operation=operation, model="KB12345678")
    calls = {
        "Retrieve": lambda: kb.retrieve(knowledgeBaseId="KB12345678", retrievalQuery={"text": "x"}),
        "RetrieveAndGenerate": lambda: kb.retrieve_and_generate(input={"text": "x"}, retrieveAndGenerateConfiguration=KB_CONFIG),
        "RetrieveAndGenerateStream": lambda: kb.retrieve_and_generate_stream(input={"text": "x"}, retrieveAndGenerateConfiguration=KB_CONFIG),
    }
    with pytest.raises(ClientError) as caught:
        calls[operation]()
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    calls[operation]()


def test_stream_pieces_follow_stream_chunks(fresh_emulator: Any, kb: Any) -> None:
    fresh_emulator.stream_chunks = 1
    events = list(kb.retrieve_and_generate_stream(input={"text": "vacation and expenses"}, retrieveAndGenerateConfiguration=KB_CONFIG)["stream"])
    assert [next(iter(e)) for e in events] == ["output", "citation", "output", "citation"]
