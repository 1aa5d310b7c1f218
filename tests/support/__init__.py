"""Helpers shared by the tests: a real OTLP/HTTP receiver and a way to run apps under genai-tap."""
