"""The project's own Amazon Bedrock Runtime emulator (``genai-tap emulator``)."""

from .server import Emulator, Fault

__all__ = ["Emulator", "Fault"]
