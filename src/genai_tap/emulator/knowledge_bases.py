"""Knowledge bases: Retrieve, RetrieveAndGenerate, RetrieveAndGenerateStream.

Every knowledge base ID (10 letters or digits) holds the same small corpus below, one
chunk per document, from six kinds of data source (S3, web, Confluence, SharePoint,
Salesforce, custom). A query ranks the chunks by the share of its words they contain
(score = 0.35 + 0.6 x share, minus 0.01 per rank); the chunks sharing at least one word
are the results, or the best three if none does. ``numberOfResults`` (default 5) pages
them, ``nextToken`` continues. An ID starting with ``NOTFOUND`` gets
ResourceNotFoundException.

RetrieveAndGenerate answers with one sentence from each of the two best chunks, each
sentence cited (``span`` start and end inclusive, as Bedrock counts them) with its
chunk. ``EXTERNAL_SOURCES`` uses the request's own documents instead: an S3 URI stands
for a document about that URI, ``byteContent`` is read as UTF-8 text. A guardrail in
``generationConfiguration`` (or Retrieve's ``guardrailConfiguration``) checks the query
and the answer (see :mod:`.guardrails`) and sets ``guardrailAction``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from . import catalog, guardrails, replies, streaming

Body = Dict[str, Any]
DATA_SOURCE = "EMUDATASRC"
_KB_ID = re.compile(r"^[0-9a-zA-Z]{1,10}$")
_STOP = frozenset(
    "a an the is are was were be to of and or in on at for with by from what which who how when where why do does did "
    "i you we they it this that these those my your our me about can could should would please tell".split()
)

#: (text, location) of each chunk
CORPUS: List[Tuple[str, Body]] = [
    (
        "Employees get 25 days of paid vacation per year. Vacation requests go to your manager at least two weeks ahead, "
        "and unused days carry over until the end of March.",
        {"type": "S3", "s3Location": {"uri": "s3://emulator-kb-docs/handbook/vacation-policy.pdf"}},
    ),
    (
        "Travel expenses are reimbursed within 30 days of submitting the receipts. Meals are covered up to 60 dollars a day, "
        "and economy class is the default for flights under six hours.",
        {"type": "WEB", "webLocation": {"url": "https://intranet.example.com/finance/expenses"}},
    ),
    (
        "Remote work is allowed up to three days a week. Laptops must use the company VPN, and customer data never leaves "
        "the managed devices.",
        {"type": "CONFLUENCE", "confluenceLocation": {"url": "https://example.atlassian.net/wiki/spaces/HR/pages/1001/Remote+work"}},
    ),
    (
        "Passwords rotate every 90 days and need at least 14 characters. Security incidents are reported to the security team "
        "within one hour of discovery.",
        {"type": "SHAREPOINT", "sharePointLocation": {"url": "https://example.sharepoint.com/sites/security/Policies/passwords.docx"}},
    ),
    (
        "The support desk answers customer tickets within four business hours. Premium customers get a named account manager "
        "and a quarterly business review.",
        {"type": "SALESFORCE", "salesforceLocation": {"url": "https://example.my.salesforce.com/kA0000000000001"}},
    ),
    (
        "Task decomposition breaks a complex task into smaller steps that an agent can plan and execute one at a time. "
        "Chain of thought prompting asks the model to think step by step.",
        {"type": "CUSTOM", "customDocumentLocation": {"id": "agents-primer-0001"}},
    ),
]


class KnowledgeBaseError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def words(text: str) -> List[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP]


def source_uri(location: Body) -> str:
    for value in location.values():
        if isinstance(value, dict):
            return str(value.get("uri") or value.get("url") or value.get("id") or "")
    return ""


def check_id(kb_id: str) -> None:
    if not _KB_ID.match(kb_id or ""):
        raise KnowledgeBaseError("ValidationException", f"The knowledge base ID {kb_id!r} is not valid.")
    if kb_id.upper().startswith("NOTFOUND"):
        raise KnowledgeBaseError("ResourceNotFoundException", f"Knowledge base {kb_id} does not exist.")


def reference(index: int, text: str, location: Body, kb_id: str) -> Body:
    """A retrieved chunk: content, location, metadata (as RetrievedReference / a retrieval result)."""
    return {
        "content": {"text": text, "type": "TEXT"},
        "location": location,
        "metadata": {
            "x-amz-bedrock-kb-source-uri": source_uri(location),
            "x-amz-bedrock-kb-chunk-id": f"1%3A0%3A{kb_id}-chunk-{index:04d}",
            "x-amz-bedrock-kb-data-source-id": DATA_SOURCE,
        },
    }


def search(query: str, kb_id: str, corpus: Optional[List[Tuple[str, Body]]] = None) -> List[Tuple[float, Body]]:
    """(score, reference) of the matching chunks, best first."""
    docs = CORPUS if corpus is None else corpus
    wanted = set(words(query))
    ranked = []
    for index, (text, location) in enumerate(docs):
        share = len(wanted & set(words(text))) / len(wanted) if wanted else 0.0
        ranked.append((share, -index, index, text, location))
    ranked.sort(reverse=True)
    hits = [r for r in ranked if r[0] > 0] or ranked[:3]
    return [
        (round(0.35 + 0.6 * share - 0.01 * rank, 6), reference(index, text, location, kb_id))
        for rank, (share, _, index, text, location) in enumerate(hits)
    ]


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "."


def _guard(config: Any) -> Optional[guardrails.Guard]:
    if not config:
        return None
    if not isinstance(config, dict):
        raise KnowledgeBaseError("ValidationException", "guardrailConfiguration must be an object.")
    try:
        return guardrails.Guard(config.get("guardrailId", ""), config.get("guardrailVersion", ""))
    except guardrails.GuardrailError as exc:
        raise KnowledgeBaseError(exc.code, str(exc)) from None


# --------------------------------------------------------------------------- Retrieve


def retrieve(kb_id: str, body: Body) -> Body:
    check_id(kb_id)
    query = (body.get("retrievalQuery") or {}).get("text") if isinstance(body.get("retrievalQuery"), dict) else None
    if not isinstance(query, str) or not query:
        raise KnowledgeBaseError("ValidationException", "retrievalQuery.text is required.")
    config = body.get("retrievalConfiguration") or {}
    search_cfg = (
        (config.get("vectorSearchConfiguration") or config.get("managedSearchConfiguration") or {}) if isinstance(config, dict) else {}
    )
    size = search_cfg.get("numberOfResults", 5) if isinstance(search_cfg, dict) else 5
    if not isinstance(size, int) or not 1 <= size <= 100:
        raise KnowledgeBaseError("ValidationException", "numberOfResults must be between 1 and 100.")
    start = 0
    if body.get("nextToken"):
        try:
            start = int(json.loads(base64.b64decode(str(body["nextToken"])))["offset"])
        except (ValueError, KeyError, TypeError):
            raise KnowledgeBaseError("ValidationException", "The nextToken is not valid.") from None
    guard = _guard(body.get("guardrailConfiguration"))
    out: Body = {}
    if guard is not None:
        found = guardrails.check(guard, query, "INPUT")
        out["guardrailAction"] = "INTERVENED" if found.blocked else "NONE"
        if found.blocked:
            out["retrievalResults"] = []
            return out
    hits = search(query, kb_id)
    page = hits[start : start + size]
    out["retrievalResults"] = [dict(ref, score=score) for score, ref in page]
    if start + size < len(hits):
        out["nextToken"] = base64.b64encode(json.dumps({"offset": start + size}).encode()).decode()
    return out


# --------------------------------------------------------------------------- RetrieveAndGenerate


class Generation:
    """One RetrieveAndGenerate answer: text parts, each with the references it cites."""

    def __init__(self, text_parts: List[str], references: List[List[Body]], session_id: str, guardrail_action: Optional[str]) -> None:
        self.parts = text_parts
        self.references = references
        self.session_id = session_id
        self.guardrail_action = guardrail_action

    @property
    def text(self) -> str:
        return " ".join(self.parts)

    def citations(self) -> List[Body]:
        out, offset = [], 0
        for part, refs in zip(self.parts, self.references):
            if refs:
                out.append(
                    {
                        "generatedResponsePart": {
                            "textResponsePart": {"text": part, "span": {"start": offset, "end": offset + len(part) - 1}}
                        },
                        "retrievedReferences": refs,
                    }
                )
            offset += len(part) + 1
        return out

    def answer(self) -> Body:
        out: Body = {"sessionId": self.session_id, "output": {"text": self.text}, "citations": self.citations()}
        if self.guardrail_action is not None:
            out["guardrailAction"] = self.guardrail_action
        return out


def _external_corpus(config: Body) -> List[Tuple[str, Body]]:
    sources = config.get("sources")
    if not isinstance(sources, list) or not sources:
        raise KnowledgeBaseError("ValidationException", "externalSourcesConfiguration.sources is required.")
    corpus: List[Tuple[str, Body]] = []
    for source in sources:
        kind = source.get("sourceType") if isinstance(source, dict) else None
        if kind == "S3":
            uri = str((source.get("s3Location") or {}).get("uri", ""))
            if not uri.startswith("s3://"):
                raise KnowledgeBaseError("ValidationException", "s3Location.uri must be an s3:// URI.")
            name = uri.rsplit("/", 1)[-1]
            corpus.append(
                (
                    f"The document {name} is an external source stored at {uri}. It was provided with the request.",
                    {"type": "S3", "s3Location": {"uri": uri}},
                )
            )
        elif kind == "BYTE_CONTENT":
            content = source.get("byteContent") or {}
            try:
                text = base64.b64decode(str(content.get("data", ""))).decode("utf-8", "replace")
            except ValueError:
                raise KnowledgeBaseError("ValidationException", "byteContent.data must be base64.") from None
            corpus.append(
                (
                    text or "(empty document)",
                    {"type": "CUSTOM", "customDocumentLocation": {"id": str(content.get("identifier", "document"))}},
                )
            )
        else:
            raise KnowledgeBaseError("ValidationException", "sourceType must be S3 or BYTE_CONTENT.")
    return corpus


def generate(body: Body) -> Generation:
    question = (body.get("input") or {}).get("text") if isinstance(body.get("input"), dict) else None
    if not isinstance(question, str) or not question:
        raise KnowledgeBaseError("ValidationException", "input.text is required.")
    config = body.get("retrieveAndGenerateConfiguration") or {}
    kind = config.get("type") if isinstance(config, dict) else None
    if kind == "KNOWLEDGE_BASE":
        kb = config.get("knowledgeBaseConfiguration") or {}
        kb_id = str(kb.get("knowledgeBaseId", ""))
        check_id(kb_id)
        corpus: Optional[List[Tuple[str, Body]]] = None
    elif kind == "EXTERNAL_SOURCES":
        kb = config.get("externalSourcesConfiguration") or {}
        kb_id = "EXTERNAL"
        corpus = _external_corpus(kb)
    else:
        raise KnowledgeBaseError("ValidationException", "retrieveAndGenerateConfiguration.type must be KNOWLEDGE_BASE or EXTERNAL_SOURCES.")
    if catalog.resolve(str(kb.get("modelArn", ""))) is None:
        raise KnowledgeBaseError("ValidationException", "The provided model identifier is invalid.")
    session_id = str(body.get("sessionId") or replies.new_uuid())
    guard = _guard((kb.get("generationConfiguration") or {}).get("guardrailConfiguration"))
    if guard is not None and guardrails.check(guard, question, "INPUT").blocked:
        return Generation([guardrails.BLOCKED_MESSAGE], [[]], session_id, "INTERVENED")
    hits = search(question, kb_id, corpus)[:2]
    parts = [_first_sentence(ref["content"]["text"]) for _, ref in hits]
    if parts:
        parts[0] = "According to the sources, " + parts[0][0].lower() + parts[0][1:]
    refs = [[ref] for _, ref in hits]
    action = None
    if guard is not None:
        found = guardrails.check(guard, " ".join(parts), "OUTPUT")
        action = "INTERVENED" if found.intervened else "NONE"
        if found.blocked:
            return Generation([guardrails.BLOCKED_MESSAGE], [[]], session_id, action)
        if found.anonymized:
            parts = [guardrails.check(guard, p, "OUTPUT").masked for p in parts]
    return Generation(parts, refs, session_id, action)


# --------------------------------------------------------------------------- routes


def _retrieve_route(handler: Any, params: Dict[str, str], raw: bytes) -> None:
    body = handler.json_object(raw)
    if body is None:
        return
    try:
        answer = retrieve(params["knowledgeBaseId"], body)
    except KnowledgeBaseError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    handler.send_json(200, answer)


def _rag_route(handler: Any, params: Dict[str, str], raw: bytes) -> None:
    body = handler.json_object(raw)
    if body is None:
        return
    try:
        generation = generate(body)
    except KnowledgeBaseError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    handler.send_json(200, generation.answer())


def stream_events(generation: Generation, chunks: Optional[int]) -> List[bytes]:
    """RetrieveAndGenerateStream's events: ``output`` text pieces, a ``citation`` after each cited
    part (with both the deprecated ``citation`` member and its replacements), ``guardrail`` last
    when a guardrail was applied."""
    events: List[bytes] = []
    citations = iter(generation.citations())
    for index, (part, refs) in enumerate(zip(generation.parts, generation.references)):
        text = part if index == 0 else " " + part
        for piece in streaming.pieces(text, chunks):
            events.append(streaming.event("output", {"text": piece}))
        if refs:
            citation = next(citations)
            events.append(streaming.event("citation", dict(citation, citation=citation)))
    if generation.guardrail_action is not None:
        events.append(streaming.event("guardrail", {"action": generation.guardrail_action}))
    return events


def _rag_stream_route(handler: Any, params: Dict[str, str], raw: bytes) -> None:
    body = handler.json_object(raw)
    if body is None:
        return
    try:
        generation = generate(body)
    except KnowledgeBaseError as exc:
        return handler.send_error_shape(exc.code, str(exc))
    handler.send_stream(
        stream_events(generation, handler.emulator.stream_chunks),
        {"x-amzn-bedrock-knowledge-base-session-id": generation.session_id},
    )


def _rag_target(params: Dict[str, str], raw: bytes) -> str:
    from .server import body_field

    cfg = ("retrieveAndGenerateConfiguration",)
    kb = body_field(*cfg, "knowledgeBaseConfiguration", "knowledgeBaseId")(params, raw)
    model = body_field(*cfg, "knowledgeBaseConfiguration", "modelArn")(params, raw) or body_field(
        *cfg, "externalSourcesConfiguration", "modelArn"
    )(params, raw)
    return f"{kb} {model}".strip()


def routes() -> List[Any]:
    from .server import Route

    return [
        Route("POST", "/knowledgebases/{knowledgeBaseId}/retrieve", "Retrieve", _retrieve_route, service="agent"),
        Route("POST", "/retrieveAndGenerate", "RetrieveAndGenerate", _rag_route, service="agent", target=_rag_target),
        Route("POST", "/retrieveAndGenerateStream", "RetrieveAndGenerateStream", _rag_stream_route, service="agent", target=_rag_target),
    ]
