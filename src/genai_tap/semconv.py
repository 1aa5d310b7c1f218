"""Every name genai-tap emits, in one place.

The OpenTelemetry GenAI semantic conventions are still moving (they now live in
``open-telemetry/semantic-conventions-genai``); when a name is renamed upstream,
the change is one line here. Names we defined ourselves start with ``genai_tap.``
or ``aws.bedrock.`` (Bedrock's own things the conventions have no name for yet) and
are listed in docs/semconv.md.

Values follow the published v1.41 conventions, which is what Datadog's OTLP
ingestion and opentelemetry-util-genai understand today.
"""

# --- span attributes: GenAI semantic conventions --------------------------------
OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_TOP_P = "gen_ai.request.top_p"
REQUEST_TOP_K = "gen_ai.request.top_k"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
REQUEST_ENCODING_FORMATS = "gen_ai.request.encoding_formats"
REQUEST_STREAM = "gen_ai.request.stream"
OUTPUT_TYPE = "gen_ai.output.type"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_ID = "gen_ai.response.id"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # v1.41
USAGE_CACHE_WRITE_INPUT_TOKENS_LATEST = "gen_ai.usage.cache_write.input_tokens"  # the name now (with the opt-in)
USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
TOKEN_TYPE = "gen_ai.token.type"
TOKEN_MODALITY = "gen_ai.token.modality"  # with the latest conventions, on the usage counters
AGENT_ID = "gen_ai.agent.id"
AGENT_NAME = "gen_ai.agent.name"
AGENT_VERSION = "gen_ai.agent.version"
CONVERSATION_ID = "gen_ai.conversation.id"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"  # content
TOOL_CALL_RESULT = "gen_ai.tool.call.result"  # content
DATA_SOURCE_ID = "gen_ai.data_source.id"
RETRIEVAL_QUERY_TEXT = "gen_ai.retrieval.query.text"  # content
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"  # content
RETRIEVAL_TOP_K = "gen_ai.retrieval.top_k"  # the number of results asked for
# guardrails (docs/gen-ai/gen-ai-guardrails.md of semantic-conventions-genai): on apply_guardrail spans
GUARDRAIL_COMPONENT_NAME = "gen_ai.guardrail.component.name"
GUARDRAIL_POLICY_ID = "gen_ai.guardrail.policy.id"
GUARDRAIL_POLICY_VERSION = "gen_ai.guardrail.policy.version"
GUARDRAIL_SOURCE = "gen_ai.guardrail.source"
GUARDRAIL_RESULT_TYPE = "gen_ai.guardrail.result.type"
GUARDRAIL_RESULT_VALUE = "gen_ai.guardrail.result.value"
GUARDRAIL_RESULT_REASON = "gen_ai.guardrail.result.reason"

# --- span attributes: general and AWS conventions ------------------------------------
ERROR_TYPE = "error.type"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
EVENT_EXCEPTION = "exception"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
AWS_REQUEST_ID = "aws.request_id"
AWS_BEDROCK_GUARDRAIL_ID = "aws.bedrock.guardrail.id"
AWS_BEDROCK_KNOWLEDGE_BASE_ID = "aws.bedrock.knowledge_base.id"

# --- span attributes of our own for Bedrock (documented in docs/semconv.md) -----------
AWS_BEDROCK_GUARDRAIL_VERSION = "aws.bedrock.guardrail.version"
AWS_BEDROCK_GUARDRAIL_ACTION = "aws.bedrock.guardrail.action"      # as Bedrock reports it: NONE, INTERVENED ...
AWS_BEDROCK_GUARDRAIL_POLICIES = "aws.bedrock.guardrail.policies"  # the policies that intervened: content, topic ...
AWS_BEDROCK_AGENT_ALIAS_ID = "aws.bedrock.agent.alias_id"
AWS_BEDROCK_AGENT_ACTION_GROUP = "aws.bedrock.agent.action_group"  # the action group of an execute_tool step
AWS_BEDROCK_AGENT_PROMPT_TYPE = "aws.bedrock.agent.prompt_type"    # ORCHESTRATION, PRE_PROCESSING ... of a model invocation
AWS_BEDROCK_AGENT_TRACE_ID = "aws.bedrock.agent.trace_id"          # Bedrock's traceId of the step
AWS_BEDROCK_AGENT_RETURN_CONTROL = "aws.bedrock.agent.return_control"  # a tool invocation handed back to the app
AWS_BEDROCK_AGENT_INPUT_VALID = "aws.bedrock.agent.pre_processing.is_valid"  # pre-processing's verdict on the input

# --- span attributes of our own (documented in README.md) ---------------------------
MODEL_VENDOR = "genai_tap.model.vendor"          # "amazon", "anthropic", ...
MODEL_FAMILY = "genai_tap.model.family"          # body format that parsed the call: "nova", ...
MODEL_BASE_ID = "genai_tap.model.base_id"        # model ID without region prefix or ARN
BEDROCK_API = "genai_tap.bedrock.api"            # "InvokeModel", "Converse", ...
STREAM_CHUNKS = "genai_tap.stream.chunks"        # number of chunks the app received
STREAM_STOPPED_EARLY = "genai_tap.stream.stopped_early"  # app closed or dropped the stream
STREAM_ABANDONED = "genai_tap.stream.abandoned"  # dropped unfinished; ended by a finalizer
STREAM_CANCELLED = "genai_tap.stream.cancelled"  # the app's task was cancelled while it read the stream
OUTPUT_COUNT = "genai_tap.output.count"          # images or videos requested
CONTENT_TRUNCATED = "genai_tap.content.truncated"   # some content was cut at GENAI_TAP_MAX_CONTENT_CHARS
CONTENT_REDACTIONS = "genai_tap.content.redactions"  # how many values were replaced by [REDACTED:...] markers
CONTENT_DROPPED = "genai_tap.content.dropped"        # why content was withheld: redaction_failed, redaction_unavailable, redaction_budget
RETRIEVAL_DOCUMENT_COUNT = "genai_tap.retrieval.document_count"  # documents returned (also with content off)
AGENT_USAGE_INPUT_TOKENS = "genai_tap.agent.usage.input_tokens"    # summed over the model invocations inside an agent call
AGENT_USAGE_OUTPUT_TOKENS = "genai_tap.agent.usage.output_tokens"
AGENT_CLOCK_SHIFT_MS = "genai_tap.agent.clock_shift_ms"  # how far Bedrock's step times were moved onto the local clock
AGENT_STEPS_DROPPED = "genai_tap.agent.steps_dropped"    # steps beyond the limit of one call, not recorded
PEER_TRACE_ID = "genai_tap.datadog.trace_id"     # the LLMObs span of the same call
PEER_SPAN_ID = "genai_tap.datadog.span_id"
DD_OTEL_TRACE_ID = "genai_tap.otel.trace_id"      # on the LLMObs span: the OpenTelemetry span of the same call
DD_OTEL_SPAN_ID = "genai_tap.otel.span_id"
# Datadog's own marker (ddtrace sets it on its APM spans): "these gen_ai.* attributes
# restate an LLM Observability span that was sent already; do not build another from them".
DD_ARTIFICIAL_GEN_AI_TAGS = "_dd.llmobs.artificial_gen_ai_tags"

# --- attribute values ---------------------------------------------------------------
PROVIDER_AWS_BEDROCK = "aws.bedrock"
OP_CHAT = "chat"
OP_TEXT_COMPLETION = "text_completion"
OP_EMBEDDINGS = "embeddings"
OP_GENERATE_CONTENT = "generate_content"
OP_INVOKE_AGENT = "invoke_agent"
OP_EXECUTE_TOOL = "execute_tool"
OP_RETRIEVAL = "retrieval"
TOKEN_MODALITY_UNKNOWN = "unknown"
#: the operations the latest conventions call inference (their metrics are gen_ai.client.inference.*)
INFERENCE_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
OP_APPLY_GUARDRAIL = "apply_guardrail"
# steps of a Bedrock agent that have no operation name in the conventions
OP_AGENT_PRE_PROCESSING = "aws.bedrock.agent.pre_processing"
OP_AGENT_POST_PROCESSING = "aws.bedrock.agent.post_processing"
OP_AGENT_ROUTING = "aws.bedrock.agent.routing_classifier"
OP_AGENT_FAILURE = "aws.bedrock.agent.failure"
GUARDRAIL_COMPONENT_BEDROCK = "Amazon Bedrock Guardrails"
GUARDRAIL_RESULT_TYPE_ACTION = "action"
TOOL_TYPE_FUNCTION = "function"    # run by the app (an agent's return of control)
TOOL_TYPE_EXTENSION = "extension"  # run by the agent's side (a Lambda action group, the code interpreter)
TOKEN_TYPE_INPUT = "input"
TOKEN_TYPE_OUTPUT = "output"
ERROR_TYPE_OTHER = "_OTHER"

# --- events (content capture in EVENT_ONLY / SPAN_AND_EVENT modes) -------------------
EVENT_INFERENCE_DETAILS = "gen_ai.client.inference.operation.details"

# --- metrics ---------------------------------------------------------------------------
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
# the conventions as they are now (semantic-conventions-genai), with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental;
# gen_ai.client.operation.duration stays for operations that are neither inference nor embeddings
METRIC_INFERENCE_DURATION = "gen_ai.client.inference.duration"
METRIC_INFERENCE_TIME_TO_FIRST_CHUNK = "gen_ai.client.inference.time_to_first_chunk"
METRIC_INFERENCE_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.inference.time_per_output_chunk"
METRIC_USAGE_INPUT_TOKENS = "gen_ai.client.inference.usage.input_tokens"
METRIC_USAGE_OUTPUT_TOKENS = "gen_ai.client.inference.usage.output_tokens"
METRIC_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_read.input_tokens"
METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.client.inference.usage.cache_write.input_tokens"
METRIC_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.client.inference.usage.reasoning.output_tokens"
METRIC_INFERENCE_INPUT_TOKENS = "gen_ai.client.inference.operation.input_tokens"
METRIC_INFERENCE_OUTPUT_TOKENS = "gen_ai.client.inference.operation.output_tokens"
METRIC_EMBEDDINGS_DURATION = "gen_ai.client.embeddings.duration"
METRIC_EMBEDDINGS_INPUT_TOKENS = "gen_ai.client.embeddings.operation.input_tokens"

# --- the semantic-conventions opt-in ----------------------------------------------------
STABILITY_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
OPT_IN_GEN_AI_LATEST = "gen_ai_latest_experimental"


def latest_experimental() -> bool:
    """True when OTEL_SEMCONV_STABILITY_OPT_IN (a comma-separated list, as the OpenTelemetry
    instrumentations read it) has ``gen_ai_latest_experimental``: the GenAI conventions as
    they are now instead of the published v1.41 names."""
    import os

    values = os.environ.get(STABILITY_OPT_IN, "").split(",")
    return OPT_IN_GEN_AI_LATEST in {v.strip().lower() for v in values}

# Advisory bucket boundaries from the conventions.
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

# Attributes copied from a span to its metrics (the conventions' metric attributes).
METRIC_ATTRIBUTES = (OPERATION_NAME, PROVIDER_NAME, REQUEST_MODEL, RESPONSE_MODEL, SERVER_ADDRESS, SERVER_PORT)

# --- finish reasons ----------------------------------------------------------------------
# Provider stop reasons -> the conventions' values (stop, length, content_filter, tool_call,
# error). Anything not listed is reported lower-cased as the provider sent it.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "finish": "stop",
    "complete": "stop",
    "eos_token": "stop",
    "end_of_turn": "stop",
    "max_tokens": "length",
    "length": "length",
    "max_token_limit": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_call",
    "tool_calls": "tool_call",
    "tool_call": "tool_call",
    "content_filtered": "content_filter",
    "content_filter": "content_filter",
    "guardrail_intervened": "content_filter",
    "error_toxic": "content_filter",
    "error": "error",
    "error_limit": "error",
    "endoftext": "stop",  # AI21 Jurassic-2
}


def finish_reason(raw: object) -> str:
    """Map a provider's stop reason to the conventions' value."""
    text = str(raw).lower()
    return FINISH_REASONS.get(text, text)
