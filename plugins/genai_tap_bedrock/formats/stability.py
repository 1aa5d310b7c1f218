"""Stability AI image models (Stable Image Ultra/Core, SD3.x, SDXL).

Request (current models): ``{"prompt", "negative_prompt", "mode", "aspect_ratio",
"output_format", "seed", "strength", "image"}``; SDXL: ``{"text_prompts": [{"text",
"weight"}], "cfg_scale", "steps", "seed", "height", "width", "samples",
"style_preset"}``. The response (base64 images) is never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_GENERATE_CONTENT

from . import BodyFormat, copy_params

PARAMS = {
    "seed": "seed",
    "mode": "mode",
    "aspect_ratio": "aspect_ratio",
    "output_format": "output_format",
    "strength": "strength",
    "cfg_scale": "cfg_scale",
    "steps": "steps",
    "width": "width",
    "height": "height",
    "style_preset": "style_preset",
}


class Stability(BodyFormat):
    name = "stability"
    operation = OP_GENERATE_CONTENT
    output_type = "image"
    model_prefixes = ("stability.",)
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "prompt" in body or "text_prompts" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return "text_prompts" in body or ("prompt" in body and ("aspect_ratio" in body or "output_format" in body))

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, PARAMS)
        samples = body.get("samples", 1)
        rec.output_count = samples if isinstance(samples, int) else None
        if not rec.capture_content:
            return
        copy_params(rec, body, {"negative_prompt": "negative_prompt"})
        prompts = body.get("text_prompts")
        if isinstance(prompts, list):
            parts = [text_part(str(p.get("text", ""))) for p in prompts if isinstance(p, Mapping) and (p.get("weight") or 1) >= 0]
        else:
            parts = [text_part(str(body.get("prompt", "")))]
        if body.get("image") or body.get("init_image"):
            parts.append(media_part("image"))
        rec.input_messages = [message("user", parts)]
