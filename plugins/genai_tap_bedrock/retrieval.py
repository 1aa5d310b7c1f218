"""Knowledge Bases (``bedrock-agent-runtime``): Retrieve, RetrieveAndGenerate(Stream).

- ``Retrieve``: one ``retrieval {knowledge base id}`` CLIENT span: the knowledge base
  (``gen_ai.data_source.id`` and ``aws.bedrock.knowledge_base.id``), the number of
  results asked for (``gen_ai.retrieval.top_k``) and returned
  (``genai_tap.retrieval.document_count``, also with content capture off), and, as
  content, the query and the documents (id, score, location, text, metadata).
- ``RetrieveAndGenerate`` and ``RetrieveAndGenerateStream``: one ``chat {modelArn}``
  CLIENT span (the model generates the answer; the session is
  ``gen_ai.conversation.id``), with one INTERNAL ``retrieval`` child made from the
  retrieved references the answer cites (Bedrock returns no others, and does not say
  when it searched: the child has the call's times).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

from genai_tap.config import Config
from genai_tap.record import CallRecord, message, text_part
from genai_tap.semconv import (
    AWS_BEDROCK_KNOWLEDGE_BASE_ID,
    OP_CHAT,
    OP_RETRIEVAL,
    RETRIEVAL_DOCUMENT_COUNT,
    RETRIEVAL_TOP_K,
)
from genai_tap.tap import Call

from . import guardrails, model_ids, streams
from .aws import as_text, response_metadata
from .base import Made, Operation
from .formats import copy_params
from .streams import Reader, StreamState

#: Documents kept per span (the count is always the whole number)
MAX_DOCUMENTS = 100
#: Where a retrieved document is, per location type: (key, field)
LOCATIONS = (
    ("s3Location", "uri"),
    ("webLocation", "url"),
    ("confluenceLocation", "url"),
    ("salesforceLocation", "url"),
    ("sharePointLocation", "url"),
    ("kendraDocumentLocation", "uri"),
    ("googleDriveLocation", "url"),
    ("oneDriveLocation", "url"),
    ("customDocumentLocation", "id"),
    ("sqlLocation", "query"),
)
TEXT_PARAMS = {"max_tokens": "maxTokens", "temperature": "temperature", "top_p": "topP", "stop_sequences": "stopSequences"}


def location_uri(location: Any) -> Optional[str]:
    if not isinstance(location, Mapping):
        return None
    for key, name in LOCATIONS:
        found = location.get(key)
        if isinstance(found, Mapping) and isinstance(found.get(name), str):
            return str(found[name])
    return None


def document(ref: Any) -> Optional[Dict[str, Any]]:
    """A retrieved result or reference in the shape of ``gen_ai.retrieval.documents``:
    ``id`` and ``score`` as the conventions name them, then ``uri``, ``content`` (the
    text; image and audio bytes never) and ``metadata``."""
    if not isinstance(ref, Mapping):
        return None
    uri = location_uri(ref.get("location"))
    doc: Dict[str, Any] = {}
    ident = ref.get("documentId") or uri
    if isinstance(ident, str):
        doc["id"] = ident
    score = ref.get("score")
    if isinstance(score, (int, float)) and not isinstance(score, bool):
        doc["score"] = float(score)
    if uri:
        doc["uri"] = uri
    content = ref.get("content")
    if isinstance(content, Mapping):
        text = content.get("text")
        if isinstance(text, str):
            doc["content"] = text
        elif isinstance(content.get("row"), list):  # a structured data store's row
            doc["content"] = {
                str(c.get("columnName")): c.get("columnValue") for c in content["row"] if isinstance(c, Mapping)
            }
    metadata = ref.get("metadata")
    if isinstance(metadata, Mapping) and metadata:
        doc["metadata"] = dict(metadata)
    return doc


def set_documents(rec: CallRecord, refs: List[Any]) -> None:
    """The count always; the documents themselves only with content capture on."""
    rec.attributes[RETRIEVAL_DOCUMENT_COUNT] = len(refs)
    if rec.capture_content:
        docs = [d for d in (document(r) for r in refs[:MAX_DOCUMENTS]) if d is not None]
        rec.documents = docs or None


def number_of_results(config: Any) -> Optional[int]:
    """``numberOfResults`` of a ``retrievalConfiguration`` (vector or managed search)."""
    if not isinstance(config, Mapping):
        return None
    for key in ("vectorSearchConfiguration", "managedSearchConfiguration"):
        search = config.get(key)
        value = search.get("numberOfResults") if isinstance(search, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _guardrail_config(rec: CallRecord, config: Any) -> None:
    if isinstance(config, Mapping):
        rec.guardrail_id = as_text(config.get("guardrailId"))
        rec.guardrail_version = as_text(config.get("guardrailVersion"))


def _guardrail_action(rec: CallRecord, action: Any) -> None:
    if isinstance(action, str):
        rec.guardrail_action = action


# ------------------------------------------------------------------ Retrieve


class Retrieve(Operation):
    api = "Retrieve"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        kb = as_text(params.get("knowledgeBaseId"))
        rec = CallRecord(
            api=self.api, operation=OP_RETRIEVAL, request_model="", capture_content=config.capture_content, span_target=kb or ""
        )
        rec.data_source_id = kb
        if kb:
            rec.attributes[AWS_BEDROCK_KNOWLEDGE_BASE_ID] = kb
        top_k = number_of_results(params.get("retrievalConfiguration"))
        if top_k is not None:
            rec.attributes[RETRIEVAL_TOP_K] = top_k
        _guardrail_config(rec, params.get("guardrailConfiguration"))
        query = params.get("retrievalQuery")
        text = query.get("text") if isinstance(query, Mapping) else None
        if rec.capture_content and isinstance(text, str):
            rec.retrieval_query = text  # a string: nobody can change it
        return rec, None, []

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        results = result.get("retrievalResults")
        refs = list(results) if isinstance(results, list) else []  # the app may change its list
        call.defer(partial(_retrieved, refs, result.get("guardrailAction"), rec))
        return result, False


def _retrieved(refs: List[Any], action: Any, rec: CallRecord) -> None:
    set_documents(rec, refs)
    _guardrail_action(rec, action)


# ------------------------------------------------------------------ RetrieveAndGenerate


class RetrieveAndGenerate(Operation):
    api = "RetrieveAndGenerate"

    def record(self, params: Mapping[str, Any], config: Config) -> Optional[Made]:
        cfg = params.get("retrieveAndGenerateConfiguration")
        cfg = cfg if isinstance(cfg, Mapping) else {}
        kb_cfg = cfg.get("knowledgeBaseConfiguration")
        ext_cfg = cfg.get("externalSourcesConfiguration")
        source = kb_cfg if isinstance(kb_cfg, Mapping) else ext_cfg if isinstance(ext_cfg, Mapping) else {}
        model = as_text(source.get("modelArn")) or ""
        rec = CallRecord(
            api=self.api,
            operation=OP_CHAT,
            request_model=model,
            model=model_ids.resolve(model) if model else None,
            capture_content=config.capture_content,
            stream=self.streams,
        )
        rec.conversation_id = as_text(params.get("sessionId"))
        generation = source.get("generationConfiguration")
        if isinstance(generation, Mapping):
            inference = generation.get("inferenceConfig")
            if isinstance(inference, Mapping):
                copy_params(rec, inference.get("textInferenceConfig"), TEXT_PARAMS)
            _guardrail_config(rec, generation.get("guardrailConfiguration"))
        kb = as_text(source.get("knowledgeBaseId")) if source is kb_cfg else None
        if kb:
            rec.attributes[AWS_BEDROCK_KNOWLEDGE_BASE_ID] = kb
        query = params.get("input")
        text = query.get("text") if isinstance(query, Mapping) else None
        if rec.capture_content and isinstance(text, str):
            rec.input_messages = [message("user", [text_part(text)])]
        lookup = Lookup(kb, number_of_results(source.get("retrievalConfiguration")), text if isinstance(text, str) else None)
        return rec, lookup, []

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        rec.conversation_id = as_text(result.get("sessionId")) or rec.conversation_id
        output = result.get("output")
        text = output.get("text") if isinstance(output, Mapping) else None
        citations = result.get("citations")
        found = {
            "text": text,
            "citations": list(citations) if isinstance(citations, list) else [],
            "action": result.get("guardrailAction"),
        }
        call.defer(partial(_generated, found, call.plugin_state, rec))
        return result, False


def cited(citations: List[Any]) -> List[Any]:
    """The retrieved references of the citations, each once, in the order first cited."""
    refs: List[Any] = []
    seen = set()
    for citation in citations:
        items = citation.get("retrievedReferences") if isinstance(citation, Mapping) else None
        for ref in items if isinstance(items, list) else ():
            if not isinstance(ref, Mapping):
                continue
            key = (location_uri(ref.get("location")), str((ref.get("content") or {}).get("text", ""))[:200])
            if key not in seen:
                seen.add(key)
                refs.append(ref)
    return refs


class Lookup:
    """What RetrieveAndGenerate's request says of its search: the knowledge base, how many
    results, the query."""

    __slots__ = ("kb", "top_k", "query")

    def __init__(self, kb: Optional[str], top_k: Optional[int], query: Optional[str]) -> None:
        self.kb, self.top_k, self.query = kb, top_k, query


def _generated(found: Mapping[str, Any], lookup: Lookup, rec: CallRecord) -> None:
    text = found.get("text")
    if rec.capture_content and isinstance(text, str):
        rec.output_messages = [message("assistant", [text_part(text)])]
    _finish_generation(rec, lookup, found.get("citations") or [], found.get("action"))


def _finish_generation(rec: CallRecord, lookup: Lookup, citations: List[Any], action: Any) -> None:
    """The ``retrieval`` child, from the cited references; the guardrail's action."""
    child = rec.child(OP_RETRIEVAL, request_model="", model=None, span_target=lookup.kb or "", end_ns=rec.end_ns)
    child.data_source_id = lookup.kb
    if lookup.kb:
        child.attributes[AWS_BEDROCK_KNOWLEDGE_BASE_ID] = lookup.kb
    if lookup.top_k is not None:
        child.attributes[RETRIEVAL_TOP_K] = lookup.top_k
    if child.capture_content:
        child.retrieval_query = lookup.query
    set_documents(child, cited(citations))
    _guardrail_action(rec, action)
    guardrails.apply_intervention(rec)


class RetrieveAndGenerateStream(RetrieveAndGenerate):
    """The answer as an event stream: ``output`` (text), ``citation`` and ``guardrail`` events."""

    api = "RetrieveAndGenerateStream"
    streams = True

    def succeeded(self, call: Call, result: Dict[str, Any]) -> Tuple[Any, bool]:
        rec = call.record
        response_metadata(rec, result)
        rec.conversation_id = as_text(result.get("sessionId")) or rec.conversation_id
        stream = result.get("stream")
        if not (hasattr(type(stream), "__aiter__") or hasattr(stream, "__iter__")):
            return result, False
        result["stream"] = streams.watch(stream, call, _stream_reader(call.plugin_state))
        return result, True


def _keep_rag_event(event: Mapping[str, Any]) -> Any:
    """An ``output`` event is held as its text; the others as they are."""
    output = event.get("output")
    text = output.get("text") if isinstance(output, Mapping) else None
    return text if type(text) is str else event


def _stream_reader(lookup: Lookup) -> Reader:
    citations: List[Any] = []
    actions: List[Any] = []

    def read(rec: CallRecord, state: StreamState, kept: Any) -> None:
        if type(kept) is str:
            state.text(0, kept)
            return
        if not isinstance(kept, Mapping):
            return
        event = kept.get("citation")
        if isinstance(event, Mapping):
            # the references are on the event itself; older responses nest them in "citation"
            inner = event.get("citation")
            citations.append(event if "retrievedReferences" in event or not isinstance(inner, Mapping) else inner)
        guardrail = kept.get("guardrail")
        if isinstance(guardrail, Mapping):
            actions.append(guardrail.get("action"))

    def done(rec: CallRecord, state: StreamState) -> None:
        action = next((a for a in actions if guardrails.intervened(a)), actions[-1] if actions else None)
        _finish_generation(rec, lookup, citations, action)

    return Reader(read, _keep_rag_event, done)


OPERATIONS: Dict[str, Operation] = {
    "Retrieve": Retrieve(),
    "RetrieveAndGenerate": RetrieveAndGenerate(),
    "RetrieveAndGenerateStream": RetrieveAndGenerateStream(),
}
