"""Amazon Nova Reel video generation (StartAsyncInvoke's ``modelInput``).

``{"taskType": "TEXT_VIDEO"|"MULTI_SHOT_AUTOMATED"|"MULTI_SHOT_MANUAL",
"textToVideoParams": {"text", "images"}, "multiShotAutomatedParams": {"text"},
"multiShotManualParams": {"shots": [{"text", "image"}]}, "videoGenerationConfig":
{"durationSeconds", "fps", "dimension", "seed"}}``. The job's ARN is the response id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_tap.record import CallRecord, media_part, message, text_part
from genai_tap.semconv import OP_GENERATE_CONTENT

from . import BodyFormat, copy_params

CONFIG = {"seed": "seed", "duration_seconds": "durationSeconds", "fps": "fps", "dimension": "dimension"}
TASKS = ("textToVideoParams", "multiShotAutomatedParams", "multiShotManualParams")


class NovaReel(BodyFormat):
    name = "nova_reel"
    operation = OP_GENERATE_CONTENT
    output_type = "video"
    model_prefixes = ("amazon.nova-reel",)
    reads_response = False

    def accepts(self, body: Mapping[str, Any]) -> bool:
        return "taskType" in body

    def sniff(self, body: Mapping[str, Any]) -> bool:
        return any(key in body for key in TASKS)

    def parse_request(self, body: Mapping[str, Any], rec: CallRecord) -> None:
        copy_params(rec, body, {"task_type": "taskType"})
        copy_params(rec, body.get("videoGenerationConfig"), CONFIG)
        rec.output_count = 1
        if not rec.capture_content:
            return
        task: Mapping[str, Any] = next((body[k] for k in TASKS if isinstance(body.get(k), Mapping)), {})
        shots: list = task["shots"] if isinstance(task.get("shots"), list) else [task]
        parts = []
        for shot in shots:
            if isinstance(shot, Mapping):
                if shot.get("text") is not None:
                    parts.append(text_part(str(shot["text"])))
                images = shot.get("images") or ([shot["image"]] if shot.get("image") else [])
                parts += [media_part("image") for _ in images]
        rec.input_messages = [message("user", parts)]
