"""Amazon Nova Canvas and Titan Image Generator: ``taskType`` + ``*Params`` + ``imageGenerationConfig``.

Request: ``{"taskType": "TEXT_IMAGE"|"COLOR_GUIDED_GENERATION"|"IMAGE_VARIATION"|
"INPAINTING"|"OUTPAINTING"|"BACKGROUND_REMOVAL"|"VIRTUAL_TRY_ON", "textToImageParams":
{"text", "negativeText", "conditionImage", "style"}, ..., "imageGenerationConfig":
{"numberOfImages", "width", "height", "quality", "cfgScale", "seed"}}``.
The prompt and the parameters are recorded; input images only as parts without
bytes. The response (base64 images) is never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_GENERATE_CONTENT

from . import BodyFormat, copy_params

TASK_PARAMS = (
    "textToImageParams",
    "colorGuidedGenerationParams",
    "imageVariationParams",
    "inPaintingParams",
    "outPaintingParams",
    "backgroundRemovalParams",
    "virtualTryOnParams",
)
CONFIG = {"seed": "seed", "width": "width", "height": "height", "quality": "quality", "cfg_scale": "cfgScale"}
IMAGE_KEYS = ("image", "conditionImage", "referenceImage", "maskImage", "sourceImage", "images")


class ImageTasks(BodyFormat):
    name = "image_tasks"
    operation = OP_GENERATE_CONTENT
    output_type = "image"
    model_prefixes = ("amazon.nova-canvas", "amazon.titan-image-generator")
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "taskType" in body or "textToImageParams" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return any(key in body for key in TASK_PARAMS)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        config = body.get("imageGenerationConfig") or {}
        copy_params(rec, body, {"task_type": "taskType"})
        copy_params(rec, config, CONFIG)
        count = config.get("numberOfImages", 1) if isinstance(config, Mapping) else 1
        rec.output_count = count if isinstance(count, int) else None
        task: Mapping[str, Any] = next((body[k] for k in TASK_PARAMS if isinstance(body.get(k), Mapping)), {})
        copy_params(rec, task, {"style": "style", "control_mode": "controlMode"})
        if rec.capture_content:
            copy_params(rec, task, {"negative_prompt": "negativeText"})
            parts = [text_part(str(task["text"]))] if task.get("text") is not None else []
            for key in IMAGE_KEYS:
                value = task.get(key)
                parts += [media_part("image") for _ in (value if isinstance(value, list) else [value] if value else [])]
            rec.input_messages = [message("user", parts)]
