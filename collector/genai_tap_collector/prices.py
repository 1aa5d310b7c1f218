"""Estimated cost of a call from its model and token counts.

The price table ships as ``prices.toml`` beside this module (with its sources
and date); a user file given by ``--prices`` or ``GENAI_TAP_PRICES`` replaces
entries model by model. A model the table does not know has no cost (``None``,
shown as "unknown"): a wrong estimate is worse than none when teams budget heat
tests by it.

Cost is linear in token counts, so the views sum tokens per model in SQL and
price the sums here; changing a price changes every stored call's cost at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from typing import Any, Dict, Mapping, Optional

from genai_tap_bedrock.model_ids import resolve

from .configfile import ConfigError, load_toml, parse_toml

PRICES_ENV = "GENAI_TAP_PRICES"
_FIELDS = ("input", "output", "cache_read", "cache_write")


@dataclass(frozen=True)
class Price:
    """USD per 1,000 tokens for one model."""

    name: str
    input: float
    output: float = 0.0
    cache_read: Optional[float] = None  # None: cached reads cost the input rate
    cache_write: Optional[float] = None  # None: cache writes cost the input rate
    source: str = ""

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
        """Input tokens include the cached ones (as the GenAI conventions count them)."""
        uncached = max(input_tokens - cache_read - cache_write, 0)
        read_rate = self.input if self.cache_read is None else self.cache_read
        write_rate = self.input if self.cache_write is None else self.cache_write
        return (uncached * self.input + cache_read * read_rate + cache_write * write_rate
                + output_tokens * self.output) / 1000.0


def price_key(model: Optional[str]) -> Optional[str]:
    """The table key of any model identifier Bedrock accepts, or None if it names no model.

    ``us.anthropic.claude-3-5-haiku-20241022-v1:0`` and its ARNs ->
    ``anthropic.claude-3-5-haiku-20241022-v1``.
    """
    if not model:
        return None
    base = resolve(model).base_id
    if not base:
        return None
    return base.split(":", 1)[0]


class PriceTable:
    def __init__(self, prices: Mapping[str, Price], sources: Optional[Mapping[str, str]] = None) -> None:
        self.prices: Dict[str, Price] = dict(prices)
        self.sources: Dict[str, str] = dict(sources or {})

    @classmethod
    def load(cls, user_file: Optional[str] = None) -> "PriceTable":
        """The shipped table, overridden by ``user_file`` (or ``$GENAI_TAP_PRICES``)."""
        shipped = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
        table = cls.from_dict(parse_toml(shipped, "the shipped prices.toml"), "the shipped prices.toml")
        what = "--prices file"
        if not user_file and os.environ.get(PRICES_ENV):
            user_file, what = os.environ[PRICES_ENV], PRICES_ENV
        if user_file:
            override = cls.from_dict(load_toml(user_file, what), f"{what} {user_file!r}")
            table.prices.update(override.prices)
            table.sources.update(override.sources)
        return table

    @classmethod
    def from_dict(cls, data: Dict[str, Any], where: str) -> "PriceTable":
        models = data.get("models")
        if not isinstance(models, dict):
            raise ConfigError(f"{where}: expected a [models.\"<model id>\"] table per model")
        prices = {}
        for key, entry in models.items():
            prices[_normal_key(key)] = _price(key, entry, where)
        sources = (data.get("meta") or {}).get("sources") or {}
        return cls(prices, sources)

    def lookup(self, model: Optional[str]) -> Optional[Price]:
        key = price_key(model)
        return None if key is None else self.prices.get(key)

    def cost(self, model: Optional[str], input_tokens: Optional[int], output_tokens: Optional[int],
             cache_read: Optional[int] = 0, cache_write: Optional[int] = 0) -> Optional[float]:
        """USD for one call (or a sum of calls of one model); None when the model is unknown."""
        price = self.lookup(model)
        if price is None:
            return None
        return price.cost(input_tokens or 0, output_tokens or 0, cache_read or 0, cache_write or 0)


def _normal_key(key: str) -> str:
    return price_key(key) or key


def _price(key: str, entry: Any, where: str) -> Price:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: models.{key!r} must be a table with input, output, cache_read, cache_write")
    unknown = set(entry) - set(_FIELDS) - {"name", "source"}
    if unknown:
        raise ConfigError(
            f"{where}: models.{key!r} has unknown field(s) {', '.join(sorted(unknown))}; "
            f"accepted: name, source, {', '.join(_FIELDS)}"
        )
    values: Dict[str, Optional[float]] = {}
    for field in _FIELDS:
        value = entry.get(field)
        if value is None:
            values[field] = None
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}: models.{key!r}.{field} = {value!r}; expected a number >= 0 (USD per 1,000 tokens)")
        values[field] = float(value)
    if values["input"] is None:
        raise ConfigError(f"{where}: models.{key!r} needs an input price (USD per 1,000 tokens)")
    return Price(
        name=str(entry.get("name") or key),
        input=values["input"],
        output=values["output"] or 0.0,
        cache_read=values["cache_read"],
        cache_write=values["cache_write"],
        source=str(entry.get("source") or ""),
    )
