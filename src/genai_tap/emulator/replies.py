"""What the emulator answers: one builder per model family's native body format.

Answers are deterministic: the text echoes the start of the last user message,
token counts are whitespace-separated words (the emulator's own tokenizer), a
request that offers tools and has not yet had a tool result gets a tool call, a
request that asks for reasoning gets a reasoning block, and ``max_tokens``-style
limits cut the answer and report the family's "length" stop reason. Response
shapes (field names, usage blocks, stop reasons) follow Bedrock's documented
model parameters and public recordings of real responses.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import uuid
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

Body = Dict[str, Any]


class BadRequest(Exception):
    """The request body is not what the model accepts (ValidationException)."""


class Usage:
    __slots__ = ("input", "output")

    def __init__(self, input_tokens: int, output_tokens: int) -> None:
        self.input = input_tokens
        self.output = output_tokens


def count(text: str) -> int:
    return len(text.split())


def _words(texts: List[str]) -> int:
    return sum(count(t) for t in texts)


class Turn:
    """What the emulator needs to know about a request to answer it."""

    def __init__(
        self,
        texts: List[str],
        last_user: str,
        tools: List[Tuple[Any, Any]],  # (name, input schema) as the request gave them
        after_tool_result: bool,
        max_tokens: Optional[int],
        reasoning: bool,
    ) -> None:
        self.texts = texts
        self.last_user = last_user
        self.tools = tools
        self.after_tool_result = after_tool_result
        self.max_tokens = max_tokens
        self.reasoning = reasoning

    @property
    def input_tokens(self) -> int:
        return max(1, _words(self.texts))

    @property
    def wants_tool(self) -> bool:
        return bool(self.tools) and not self.after_tool_result and getattr(_ids, "forced", None) is None

    def reply(self) -> Tuple[str, bool]:
        """(answer text, whether it was cut by max_tokens)."""
        forced = getattr(_ids, "forced", None)
        if forced is not None:  # a guardrail replaced the answer
            _ids.replied = forced
            return forced, False
        text, cut = self._reply()
        _ids.replied = text
        return text, cut

    def _reply(self) -> Tuple[str, bool]:
        if self.after_tool_result:
            text = "Thanks, the tool answered; here is the summary you asked for."
        else:
            said = " ".join(self.last_user.split()[:12])
            text = f"Hello from the genai-tap emulator. You said: {said}"
        base, minimum = text, getattr(_ids, "min_chars", 0)
        while len(text) < minimum:  # a stream asked for more chunks than the answer has characters
            text += " " + base
        words = text.split()
        if self.max_tokens is not None and self.max_tokens < len(words):
            return " ".join(words[: max(self.max_tokens, 0)]), True
        return text, False

    def tool_call(self) -> Tuple[str, Dict[str, Any]]:
        name, schema = self.tools[0]
        return name, example_arguments(schema)

    reasoning_text = "The user wants an answer; I will reply briefly."


def example_arguments(schema: Any) -> Dict[str, Any]:
    props = (schema or {}).get("properties") or {}
    required = (schema or {}).get("required") or list(props)[:1]
    args: Dict[str, Any] = {}
    for key in required:
        kind = (props.get(key) or {}).get("type", "string")
        if kind in ("number", "integer"):
            args[key] = 1
        elif kind == "boolean":
            args[key] = True
        else:
            args[key] = "Paris" if key in ("location", "city", "place") else "example"
    return args


_ids = threading.local()


def seed_ids(seed: Optional[bytes]) -> None:
    """Make this thread's next ids derive from ``seed`` (None: random ids)."""
    _ids.rng = random.Random(hashlib.sha256(seed).digest()) if seed is not None else None


def min_chars(count: int) -> None:
    """Make this thread's next answers at least ``count`` characters long."""
    _ids.min_chars = count


def force_reply(text: Optional[str]) -> None:
    """Make this thread's next answers say ``text`` and call no tool (None: answer as usual).

    A guardrail's blocked or masked message replaces the model's answer this way, in the
    family's own body format.
    """
    _ids.forced = text


def last_reply() -> str:
    """The answer text this thread's last builder produced."""
    return str(getattr(_ids, "replied", ""))


def new_uuid() -> str:
    rng = getattr(_ids, "rng", None)
    return str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng is not None else str(uuid.uuid4())


def _new_id(prefix: str) -> str:
    return prefix + new_uuid().replace("-", "")[:24]


def _require(body: Body, *keys: str) -> None:
    if not isinstance(body, dict) or not any(k in body for k in keys):
        raise BadRequest("Malformed input request, please reformat your input and try again.")


# --------------------------------------------------------------------------- Converse shape


def _converse_blocks_text(blocks: Any) -> Tuple[List[str], bool]:
    texts, tool_result = [], False
    for block in blocks or ():
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(str(block["text"]))
        if "toolResult" in block:
            tool_result = True
            for item in block["toolResult"].get("content") or ():
                if isinstance(item, dict) and "text" in item:
                    texts.append(str(item["text"]))
                elif isinstance(item, dict) and "json" in item:
                    texts.append(json.dumps(item["json"]))
    return texts, tool_result


def converse_turn(body: Body, max_tokens: Optional[int], reasoning: bool) -> Turn:
    texts: List[str] = []
    for block in body.get("system") or ():
        if isinstance(block, dict) and "text" in block:
            texts.append(str(block["text"]))
    last_user, after_tool = "", False
    for msg in body.get("messages") or ():
        found, tool_result = _converse_blocks_text(msg.get("content"))
        texts += found
        if msg.get("role") == "user":
            last_user = " ".join(found)
            after_tool = tool_result
    tools = []
    for tool in (body.get("toolConfig") or {}).get("tools") or ():
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if spec:
            tools.append((spec.get("name"), (spec.get("inputSchema") or {}).get("json") or {}))
    return Turn(texts, last_user, tools, after_tool, max_tokens, reasoning)


def converse_content(turn: Turn) -> Tuple[List[Body], str, int]:
    """(content blocks, stopReason, output tokens) in Converse/Nova shape."""
    content: List[Body] = []
    out = 0
    if turn.reasoning:
        content.append({"reasoningContent": {"reasoningText": {"text": turn.reasoning_text, "signature": "emulator"}}})
        out += count(turn.reasoning_text)
    text, cut = turn.reply()
    content.append({"text": text})
    out += count(text)
    if turn.wants_tool and not cut:
        name, args = turn.tool_call()
        content.append({"toolUse": {"toolUseId": _new_id("tooluse_"), "name": name, "input": args}})
        out += count(json.dumps(args))
        return content, "tool_use", out
    return content, "max_tokens" if cut else "end_turn", out


def converse(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "messages")
    cfg = body.get("inferenceConfig") or {}
    extra = body.get("additionalModelRequestFields") or {}
    reasoning = bool(extra.get("reasoningConfig") or extra.get("thinking"))
    turn = converse_turn(body, cfg.get("maxTokens"), reasoning)
    content, stop, out = converse_content(turn)
    usage = Usage(turn.input_tokens, out)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": usage.input, "outputTokens": usage.output, "totalTokens": usage.input + usage.output},
        "metrics": {"latencyMs": 42},
    }, usage


# --------------------------------------------------------------------------- families


def nova(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "messages")
    cfg = body.get("inferenceConfig") or {}
    reasoning = bool((body.get("reasoningConfig") or {}).get("type") == "enabled")
    turn = converse_turn(body, cfg.get("maxTokens", cfg.get("max_new_tokens")), reasoning)
    content, stop, out = converse_content(turn)
    usage = Usage(turn.input_tokens, out)
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {
            "inputTokens": usage.input,
            "outputTokens": usage.output,
            "totalTokens": usage.input + usage.output,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
    }, usage


def _anthropic_text(content: Any) -> Tuple[List[str], bool]:
    if isinstance(content, str):
        return [content], False
    texts, tool_result = [], False
    for block in content or ():
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_result":
            tool_result = True
            inner = block.get("content")
            texts += _anthropic_text(inner)[0] if inner is not None else []
    return texts, tool_result


#: Claude models that still take text completions (``prompt``) besides the Messages API
TEXT_COMPLETION_MODELS = ("anthropic.claude-v2", "anthropic.claude-instant")


def anthropic_text(body: Body, model_id: str) -> Tuple[Body, Usage]:
    """Claude 2.x / Instant text completions: ``prompt`` in "\n\nHuman: ...\n\nAssistant:" turns."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or "\n\nHuman:" not in prompt or "\n\nAssistant:" not in prompt:
        raise BadRequest('prompt must start with "\n\nHuman:" turn after an optional system prompt and contain "\n\nAssistant:" turn')
    if "max_tokens_to_sample" not in body:
        raise BadRequest(
            "Malformed input request: #: required key [max_tokens_to_sample] not found, please reformat your input and try again."
        )
    human = prompt.rsplit("\n\nHuman:", 1)[1].split("\n\nAssistant:", 1)[0]
    turn = Turn([prompt], human.strip(), [], False, body.get("max_tokens_to_sample"), False)
    text, cut = turn.reply()
    stops = body.get("stop_sequences") or ["\n\nHuman:"]
    return {
        "completion": " " + text,
        "stop_reason": "max_tokens" if cut else "stop_sequence",
        "stop": None if cut else stops[0],
    }, Usage(turn.input_tokens, count(text))


def anthropic(body: Body, model_id: str) -> Tuple[Body, Usage]:
    if isinstance(body, dict) and "prompt" in body and "messages" not in body:
        if not model_id.startswith(TEXT_COMPLETION_MODELS):
            name = model_id.split(".", 1)[-1].rsplit("-v", 1)[0]
            raise BadRequest(f'"{name}" is not supported on this API. Please use the Messages API instead.')
        return anthropic_text(body, model_id)
    _require(body, "messages")
    if "anthropic_version" not in body:
        raise BadRequest(
            "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
        )
    system = body.get("system")
    texts = _anthropic_text(system)[0] if system else []
    last_user, after_tool = "", False
    for msg in body.get("messages") or ():
        found, tool_result = _anthropic_text(msg.get("content"))
        texts += found
        if msg.get("role") == "user":
            last_user, after_tool = " ".join(found), tool_result
    tools = [(t.get("name"), t.get("input_schema") or {}) for t in body.get("tools") or () if isinstance(t, dict)]
    turn = Turn(texts, last_user, tools, after_tool, body.get("max_tokens"), bool(body.get("thinking")))
    content: List[Body] = []
    out = 0
    if turn.reasoning:
        content.append({"type": "thinking", "thinking": turn.reasoning_text, "signature": "emulator"})
        out += count(turn.reasoning_text)
    text, cut = turn.reply()
    content.append({"type": "text", "text": text})
    out += count(text)
    stop = "max_tokens" if cut else "end_turn"
    if turn.wants_tool and not cut:
        name, args = turn.tool_call()
        content.append({"type": "tool_use", "id": _new_id("toolu_bdrk_"), "name": name, "input": args})
        out += count(json.dumps(args))
        stop = "tool_use"
    usage = Usage(turn.input_tokens, out)
    return {
        "id": _new_id("msg_bdrk_"),
        "type": "message",
        "role": "assistant",
        "model": model_id.split(".", 1)[-1].rsplit("-v", 1)[0],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input,
            "output_tokens": usage.output,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }, usage


def _prompt_turn(prompt: Any, max_tokens: Optional[int]) -> Turn:
    text = str(prompt)
    return Turn([text], text, [], False, max_tokens, False)


def titan_text(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "inputText")
    cfg = body.get("textGenerationConfig") or {}
    turn = _prompt_turn(body["inputText"], cfg.get("maxTokenCount"))
    text, cut = turn.reply()
    usage = Usage(turn.input_tokens, count(text))
    return {
        "inputTextTokenCount": usage.input,
        "results": [{"tokenCount": usage.output, "outputText": text, "completionReason": "LENGTH" if cut else "FINISH"}],
    }, usage


def llama(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "prompt")
    turn = _prompt_turn(body["prompt"], body.get("max_gen_len"))
    text, cut = turn.reply()
    usage = Usage(turn.input_tokens, count(text))
    return {
        "generation": text,
        "prompt_token_count": usage.input,
        "generation_token_count": usage.output,
        "stop_reason": "length" if cut else "stop",
    }, usage


def mistral(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "prompt")
    turn = _prompt_turn(body["prompt"], body.get("max_tokens"))
    text, cut = turn.reply()
    return {"outputs": [{"text": text, "stop_reason": "length" if cut else "stop"}]}, Usage(turn.input_tokens, count(text))


def deepseek(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "prompt")
    turn = _prompt_turn(body["prompt"], body.get("max_tokens"))
    text, cut = turn.reply()
    return {"choices": [{"text": text, "stop_reason": "length" if cut else "stop"}]}, Usage(turn.input_tokens, count(text))


def _openai_text(content: Any) -> List[str]:
    if isinstance(content, str):
        return [content]
    return [str(p.get("text", "")) for p in content or () if isinstance(p, dict) and p.get("type") == "text"]


def openai_chat(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "messages")
    texts: List[str] = []
    last_user, after_tool = "", False
    for msg in body.get("messages") or ():
        found = _openai_text(msg.get("content"))
        texts += found
        if msg.get("role") == "user":
            last_user, after_tool = " ".join(found), False
        elif msg.get("role") == "tool":
            after_tool = True
    tools = [
        ((t.get("function") or {}).get("name"), (t.get("function") or {}).get("parameters") or {})
        for t in body.get("tools") or ()
        if isinstance(t, dict)
    ]
    turn = Turn(texts, last_user, tools, after_tool, body.get("max_tokens", body.get("max_completion_tokens")), False)
    text, cut = turn.reply()
    msg = {"role": "assistant", "content": text}
    out = count(text)
    finish = "length" if cut else "stop"
    if turn.wants_tool and not cut:
        name, args = turn.tool_call()
        arguments = json.dumps(args)
        msg["tool_calls"] = [{"id": _new_id("call_"), "type": "function", "function": {"name": name, "arguments": arguments}}]
        out += count(arguments)
        finish = "tool_calls"
    usage = Usage(turn.input_tokens, out)
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": 1767225600,
        "model": model_id,
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
        "usage": {"prompt_tokens": usage.input, "completion_tokens": usage.output, "total_tokens": usage.input + usage.output},
    }, usage


def cohere_chat(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "message")
    texts = [str(body.get("preamble", ""))] if body.get("preamble") else []
    for turn_ in body.get("chat_history") or ():
        if isinstance(turn_, dict) and turn_.get("message"):
            texts.append(str(turn_["message"]))
    texts.append(str(body["message"]))
    tools = [(t.get("name"), {"properties": t.get("parameter_definitions") or {}}) for t in body.get("tools") or ()]
    turn = Turn(texts, str(body["message"]), tools, bool(body.get("tool_results")), body.get("max_tokens"), False)
    text, cut = turn.reply()
    out: Body = {
        "response_id": new_uuid(),
        "text": text,
        "generation_id": new_uuid(),
        "chat_history": [{"role": "USER", "message": body["message"]}, {"role": "CHATBOT", "message": text}],
        "finish_reason": "MAX_TOKENS" if cut else "COMPLETE",
    }
    output = count(text)
    if turn.wants_tool and not cut:
        name, args = turn.tool_call()
        out["tool_calls"] = [{"name": name, "parameters": args}]
        output += count(json.dumps(args))
    return out, Usage(turn.input_tokens, output)


def cohere_text(body: Body, model_id: str) -> Tuple[Body, Usage]:
    """Cohere Command (``cohere.command-text-v14``, ``-light-``): ``generate`` with ``num_generations``."""
    _require(body, "prompt")
    prompt = str(body["prompt"])
    n = body.get("num_generations", 1)
    if not isinstance(n, int) or not 1 <= n <= 5:
        raise BadRequest("Malformed input request: #/num_generations: must be between 1 and 5, please reformat your input and try again.")
    likelihoods = body.get("return_likelihoods", "NONE")
    turn = Turn([prompt], prompt, [], False, body.get("max_tokens", 20), False)
    generations = []
    output = 0
    for index in range(n):
        text, cut = turn.reply()
        if index:  # the other generations say it differently
            words = ("Also: " + text).split()
            cut = cut or (turn.max_tokens is not None and turn.max_tokens < len(words))
            text = " ".join(words[: turn.max_tokens] if turn.max_tokens is not None else words)
        output += count(text)
        generation: Body = {"finish_reason": "MAX_TOKENS" if cut else "COMPLETE", "id": new_uuid(), "text": " " + text}
        if likelihoods in ("GENERATION", "ALL"):
            values = [round(-0.25 - (i % 7) * 0.1, 4) for i in range(len(text.split()))]
            generation["likelihood"] = round(sum(values) / max(1, len(values)), 4)
            generation["token_likelihoods"] = [{"token": " " + w, "likelihood": v} for w, v in zip(text.split(), values)]
        generations.append(generation)
    return {"generations": generations, "id": new_uuid(), "prompt": prompt}, Usage(turn.input_tokens * n, output)


def _j2_tokens(text: str) -> List[Body]:
    tokens, offset = [], 0
    for index, word in enumerate(text.split(" ")):
        start = text.index(word, offset) if word else offset
        end = start + len(word)
        logprob = round(-0.5 - (index % 5) * 0.37, 6)
        tokens.append({
            "generatedToken": {"token": "\u2581" + word, "logprob": logprob, "raw_logprob": logprob},
            "topTokens": None,
            "textRange": {"start": start, "end": end},
        })
        offset = end
    return tokens


def ai21_j2(body: Body, model_id: str) -> Tuple[Body, Usage]:
    """AI21 Jurassic-2 (``ai21.j2-mid-v1``, ``ai21.j2-ultra-v1``): ``completions[].data``, token by token."""
    _require(body, "prompt")
    prompt = str(body["prompt"])
    n = body.get("numResults", 1)
    if not isinstance(n, int) or not 1 <= n <= 16:
        raise BadRequest("Malformed input request: #/numResults: must be between 1 and 16, please reformat your input and try again.")
    max_tokens = body.get("maxTokens", 16)
    turn = Turn([prompt], prompt, [], False, max_tokens, False)
    completions = []
    output = 0
    for _ in range(n):
        text, cut = turn.reply()
        output += count(text)
        reason: Body = {"reason": "length", "length": max_tokens} if cut else {"reason": "endoftext"}
        completions.append({"data": {"text": text, "tokens": _j2_tokens(text)}, "finishReason": reason})
    return {
        "id": 1234,
        "prompt": {"text": prompt, "tokens": _j2_tokens(prompt)},
        "completions": completions,
    }, Usage(turn.input_tokens, output)


# --------------------------------------------------------------------------- embeddings


@lru_cache(maxsize=64)
def vector(seed: str, dims: int) -> Tuple[float, ...]:
    digest = hashlib.sha256(seed.encode()).digest()
    return tuple(round(((digest[i % 32] + i) % 251) / 250.0 - 0.5, 6) for i in range(dims))


def titan_embed(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "inputText", "inputImage")
    default = 1536 if "embed-text-v1" in model_id or "embed-g1" in model_id else 1024
    dims = body.get("dimensions") or (body.get("embeddingConfig") or {}).get("outputEmbeddingLength") or default
    text = str(body.get("inputText", ""))
    usage = Usage(count(text), 0)
    vec = list(vector(text, int(dims)))
    out: Body = {"embedding": vec, "inputTextTokenCount": usage.input}
    if "embeddingTypes" in body:
        out["embeddingsByType"] = {"float": vec}
    return out, usage


def cohere_embed(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "texts", "images")
    texts = [str(t) for t in body.get("texts") or ()]
    dims = body.get("output_dimension") or (1536 if "v4" in model_id else 1024)
    vectors = [list(vector(t, int(dims))) for t in texts] or [list(vector("image", int(dims)))]
    types = body.get("embedding_types")
    out: Body = {"id": new_uuid(), "texts": texts}
    if types:
        out["embeddings"] = {t: vectors for t in types}
        out["response_type"] = "embeddings_by_type"
    else:
        out["embeddings"] = vectors
        out["response_type"] = "embeddings_floats"
    return out, Usage(_words(texts), 0)


def nova_embed(body: Body, model_id: str) -> Tuple[Body, Usage]:
    _require(body, "taskType")
    params = body.get("singleEmbeddingParams") or body.get("segmentedEmbeddingParams") or {}
    dims = params.get("embeddingDimension") or 3072
    text = str((params.get("text") or {}).get("value", ""))
    kind = next((k.upper() for k in ("text", "image", "audio", "video") if k in params), "TEXT")
    return {"embeddings": [{"embeddingType": kind, "embedding": list(vector(text, int(dims)))}]}, Usage(count(text), 0)


# --------------------------------------------------------------------------- images and video

# A 1x1 transparent PNG: images are never the point of the emulator.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )
).decode()


def image_tasks(body: Body, model_id: str) -> Tuple[Body, Optional[Usage]]:
    _require(body, "taskType", "textToImageParams")
    n = int((body.get("imageGenerationConfig") or {}).get("numberOfImages", 1))
    return {"images": [PNG] * n, "error": None}, None


def stability(body: Body, model_id: str) -> Tuple[Body, Optional[Usage]]:
    _require(body, "prompt", "text_prompts")
    seed = int(body.get("seed", 0) or 0)
    if "text_prompts" in body:
        n = int(body.get("samples", 1))
        return {"result": "success", "artifacts": [{"seed": seed, "base64": PNG, "finishReason": "SUCCESS"}] * n}, None
    return {"seeds": [seed], "finish_reasons": [None], "images": [PNG]}, None


def nova_reel(body: Body, model_id: str) -> Tuple[Body, Optional[Usage]]:
    _require(body, "taskType")
    return {}, None


BUILDERS = {
    "nova": nova,
    "titan_text": titan_text,
    "anthropic": anthropic,
    "llama": llama,
    "mistral": mistral,
    "deepseek": deepseek,
    "openai_chat": openai_chat,
    "cohere_chat": cohere_chat,
    "cohere_text": cohere_text,
    "ai21_j2": ai21_j2,
    "titan_embed": titan_embed,
    "cohere_embed": cohere_embed,
    "nova_embed": nova_embed,
    "image_tasks": image_tasks,
    "stability": stability,
    "nova_reel": nova_reel,
}
