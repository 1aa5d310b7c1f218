"""Streaming answers: AWS event-stream framing and each family's native chunks.

An event-stream message is a prelude (total length, headers length, CRC32 of the
two), headers (name, type 7 = string, value), the payload, and a CRC32 of the
whole message. InvokeModelWithResponseStream sends ``chunk`` events whose payload
is ``{"bytes": base64(model chunk JSON)}``; the model's last chunk carries
``amazon-bedrock-invocationMetrics``. ConverseStream sends ``messageStart``,
``contentBlockStart`` / ``contentBlockDelta`` / ``contentBlockStop``,
``messageStop`` and ``metadata`` events. Errors mid-stream are ``exception``
messages (``modelStreamErrorException``, ``throttlingException`` ...).

Streams are built from the non-streaming answer of the same request, so both
paths agree on text, tool calls, stop reasons and usage.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

from . import replies

Body = Dict[str, Any]

#: Exceptions Bedrock can send inside a stream (event names as in the service models).
STREAM_ERRORS = {
    "modelStreamErrorException": "The model stream was interrupted. Retry your request.",
    "throttlingException": "Too many requests, please wait before trying again.",
    "validationException": "Input validation failed.",
    "internalServerException": "The server encountered an internal error.",
    "serviceUnavailableException": "Bedrock is unable to process your request.",
    "modelTimeoutException": "Model has timed out in processing the request.",
    # Agents for Amazon Bedrock Runtime (InvokeAgent, InvokeInlineAgent, RetrieveAndGenerateStream)
    "accessDeniedException": "You don't have access to this resource.",
    "badGatewayException": "Bad gateway: a dependency returned an invalid response.",
    "conflictException": "There is a conflicting operation in progress for this session.",
    "dependencyFailedException": "Received failed response from API execution. Retry the request later.",
    "resourceNotFoundException": "The specified resource does not exist.",
    "serviceQuotaExceededException": "The request exceeds a service quota.",
    "modelNotReadyException": "The model is not ready to serve requests.",
}
_RUNTIME_STREAM = frozenset(
    {"modelStreamErrorException", "throttlingException", "validationException", "internalServerException",
     "serviceUnavailableException", "modelTimeoutException"}
)
_AGENT_STREAM = frozenset(
    {"accessDeniedException", "badGatewayException", "conflictException", "dependencyFailedException",
     "internalServerException", "resourceNotFoundException", "serviceQuotaExceededException",
     "throttlingException", "validationException"}
)
#: the exception events each streaming operation declares (by API name and path alias)
STREAM_EXCEPTIONS = {
    "InvokeModelWithResponseStream": _RUNTIME_STREAM,
    "invoke-with-response-stream": _RUNTIME_STREAM,
    "ConverseStream": _RUNTIME_STREAM,
    "converse-stream": _RUNTIME_STREAM,
    "InvokeAgent": _AGENT_STREAM | {"modelNotReadyException"},
    "InvokeInlineAgent": _AGENT_STREAM,
    "RetrieveAndGenerateStream": _AGENT_STREAM,
}


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v


def encode(headers: Dict[str, str], payload: bytes) -> bytes:
    """One event-stream message, with both CRCs."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(event_type: str, body: Body) -> bytes:
    return encode(
        {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"},
        json.dumps(body).encode(),
    )


def chunk(model_chunk: Body) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` event carrying one model chunk."""
    return event("chunk", {"bytes": base64.b64encode(json.dumps(model_chunk).encode()).decode()})


def exception(name: str, message: Optional[str] = None, **extra: Any) -> bytes:
    """An exception message (``extra``: the exception's other members, e.g. ``resourceName``)."""
    body = {"message": message or STREAM_ERRORS.get(name, name)}
    body.update(extra)
    return encode(
        {":exception-type": name, ":content-type": "application/json", ":message-type": "exception"},
        json.dumps(body).encode(),
    )


def pieces(text: str, count: Optional[int]) -> List[str]:
    """Split text into ``count`` deltas (or one per word)."""
    if not text:
        return []
    if count is None:
        words = text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(text[start:end])
        start = end
    return out


def metrics(usage: Optional[replies.Usage]) -> Body:
    inp, out = (usage.input, usage.output) if usage else (0, 0)
    return {"inputTokenCount": inp, "outputTokenCount": out, "invocationLatency": 42, "firstByteLatency": 12}


# --------------------------------------------------------------------------- Converse shape


def converse_events(content: List[Body], stop: str, count: Optional[int]) -> Iterator[Tuple[str, Body]]:
    """(event type, body) for content blocks, as ConverseStream and Nova's stream send them."""
    yield "messageStart", {"role": "assistant"}
    for index, block in enumerate(content):
        if "toolUse" in block:
            use = block["toolUse"]
            yield (
                "contentBlockStart",
                {"start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}, "contentBlockIndex": index},
            )
            for piece in pieces(json.dumps(use["input"]), 3):
                yield "contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index}
        elif "reasoningContent" in block:
            for piece in pieces(block["reasoningContent"]["reasoningText"]["text"], None):
                yield "contentBlockDelta", {"delta": {"reasoningContent": {"text": piece}}, "contentBlockIndex": index}
            yield "contentBlockDelta", {"delta": {"reasoningContent": {"signature": "emulator"}}, "contentBlockIndex": index}
        else:
            for piece in pieces(block["text"], count):
                yield "contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": index}
        yield "contentBlockStop", {"contentBlockIndex": index}
    yield "messageStop", {"stopReason": stop}


def converse_stream(answer: Body, count: Optional[int]) -> List[bytes]:
    msg = answer["output"]["message"]
    out = [event(kind, body) for kind, body in converse_events(msg["content"], answer["stopReason"], count)]
    metadata: Body = {"usage": answer["usage"], "metrics": {"latencyMs": 42}}
    if "trace" in answer:
        metadata["trace"] = answer["trace"]
    out.append(event("metadata", metadata))
    return out


# --------------------------------------------------------------------------- InvokeModel families


def nova(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    msg = answer["output"]["message"]
    chunks = [{kind: body} for kind, body in converse_events(msg["content"], answer["stopReason"], count)]
    chunks.append({"metadata": {"usage": {"inputTokens": usage.input, "outputTokens": usage.output}, "metrics": {}, "trace": {}}})
    return chunks


def anthropic(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    if "completion" in answer:  # Claude 2.x / Instant text completions
        parts = [p for p in pieces(answer["completion"], count)]
        chunks_: List[Body] = [{"completion": p, "stop_reason": None, "stop": None} for p in parts]
        chunks_.append({"completion": "", "stop_reason": answer["stop_reason"], "stop": answer["stop"]})
        return chunks_
    start = dict(answer, content=[], stop_reason=None, usage={"input_tokens": usage.input, "output_tokens": 1})
    chunks: List[Body] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(answer["content"]):
        if block["type"] == "tool_use":
            chunks.append({"type": "content_block_start", "index": index, "content_block": dict(block, input={})})
            for piece in pieces(json.dumps(block["input"]), 3):
                chunks.append({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}})
        elif block["type"] == "thinking":
            chunks.append({"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": ""}})
            for piece in pieces(block["thinking"], None):
                chunks.append({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}})
        else:
            chunks.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            for piece in pieces(block["text"], count):
                chunks.append({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}})
        chunks.append({"type": "content_block_stop", "index": index})
    chunks.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": answer["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage.output},
        }
    )
    chunks.append({"type": "message_stop"})
    return chunks


def titan_text(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    result = answer["results"][0]
    parts = pieces(result["outputText"], count)
    return [
        {
            "outputText": part,
            "index": 0,
            "totalOutputTextTokenCount": len("".join(parts[: i + 1]).split()),  # cumulative, as Titan sends it
            "completionReason": result["completionReason"] if i == len(parts) - 1 else None,
            "inputTextTokenCount": usage.input if i == 0 else None,
        }
        for i, part in enumerate(parts)
    ]


def llama(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    parts = pieces(answer["generation"], count)
    return [
        {
            "generation": part,
            "prompt_token_count": usage.input if i == 0 else None,
            "generation_token_count": i + 1,  # cumulative
            "stop_reason": answer["stop_reason"] if i == len(parts) - 1 else None,
        }
        for i, part in enumerate(parts)
    ]


def mistral(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    out = answer["outputs"][0]
    parts = pieces(out["text"], count)
    return [{"outputs": [{"text": p, "stop_reason": out["stop_reason"] if i == len(parts) - 1 else None}]} for i, p in enumerate(parts)]


def deepseek(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    out = answer["choices"][0]
    parts = pieces(out["text"], count)
    return [{"choices": [{"text": p, "stop_reason": out["stop_reason"] if i == len(parts) - 1 else None}]} for i, p in enumerate(parts)]


def openai_chat(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    choice = answer["choices"][0]
    msg = choice["message"]
    base = {"id": answer["id"], "object": "chat.completion.chunk", "created": answer["created"], "model": answer["model"]}
    chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    for part in pieces(msg.get("content") or "", count):
        chunks.append(dict(base, choices=[{"index": 0, "delta": {"content": part}, "finish_reason": None}]))
    for i, call in enumerate(msg.get("tool_calls") or ()):
        chunks.append(
            dict(
                base,
                choices=[
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        },
                        "finish_reason": None,
                    }
                ],
            )
        )
        for piece in pieces(call["function"]["arguments"], 3):
            chunks.append(
                dict(
                    base,
                    choices=[
                        {"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": piece}}]}, "finish_reason": None}
                    ],
                )
            )
    chunks.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}], usage=answer["usage"]))
    return chunks


def cohere_chat(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    chunks: List[Body] = [{"is_finished": False, "event_type": "stream-start", "generation_id": answer["generation_id"]}]
    for part in pieces(answer["text"], count):
        chunks.append({"is_finished": False, "event_type": "text-generation", "text": part})
    if answer.get("tool_calls"):
        chunks.append({"is_finished": False, "event_type": "tool-calls-generation", "tool_calls": answer["tool_calls"]})
    chunks.append({"is_finished": True, "event_type": "stream-end", "finish_reason": answer["finish_reason"], "response": answer})
    return chunks


def cohere_text(answer: Body, usage: Any, count: Optional[int]) -> List[Body]:
    generations = answer["generations"]
    many = len(generations) > 1
    chunks: List[Body] = []
    for index, generation in enumerate(generations):
        for part in pieces(generation["text"], count):
            chunk_: Body = {"index": index} if many else {}
            chunk_.update({"is_finished": False, "text": part})
            chunks.append(chunk_)
    chunks.append({"finish_reason": generations[-1]["finish_reason"], "is_finished": True})
    return chunks


FAMILIES = {
    "nova": nova,
    "anthropic": anthropic,
    "titan_text": titan_text,
    "llama": llama,
    "mistral": mistral,
    "deepseek": deepseek,
    "openai_chat": openai_chat,
    "cohere_chat": cohere_chat,
    "cohere_text": cohere_text,
}
#: body keys a guardrail adds to InvokeModel answers: on every chunk, and on the last one only
GUARDRAIL_ACTION = "amazon-bedrock-guardrailAction"
GUARDRAIL_TRACE = "amazon-bedrock-trace"


def invoke_stream(family: str, answer: Body, usage: Any, count: Optional[int]) -> List[bytes]:
    """Encoded ``chunk`` events; the last model chunk carries the invocation metrics."""
    answer = dict(answer)
    action = answer.pop(GUARDRAIL_ACTION, None)
    trace = answer.pop(GUARDRAIL_TRACE, None)
    chunks = FAMILIES[family](answer, usage, count)
    if action is not None:
        chunks = [dict(c, **{GUARDRAIL_ACTION: action}) for c in chunks]
    if trace is not None:
        chunks[-1] = dict(chunks[-1], **{GUARDRAIL_TRACE: trace})
    chunks[-1] = dict(chunks[-1], **{"amazon-bedrock-invocationMetrics": metrics(usage)})
    return [chunk(c) for c in chunks]
