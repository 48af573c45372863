"""Drawing the next note's categorical fields from the network's logits.

The paper samples the pitch from the softmax rather than taking the argmax, which "often
results in repetitive note sequences"; a temperature (from TensorFlow's music-generation
tutorial), top-k and top-p (nucleus) truncation are the usual refinements. They apply to every
categorical field: the pitch, the track, and, with ``task.timing=categorical``, the step and
duration classes; each field may have its own setting (``sampling.step.temperature=0.8``),
else it takes the global one. Every draw takes an explicit ``torch.Generator`` so that a seed
fixes the music, whatever else uses the global random state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from omegaconf import OmegaConf

SAMPLED_FIELDS = ("pitch", "step", "duration", "track")
RULES = ("temperature", "top_k", "top_p")


@dataclass(frozen=True)
class Sampling:
    """How to draw from the logits.

    Attributes
    ----------
    temperature : float
        Logits are divided by it: < 1 sharpens, > 1 flattens. Must be > 0.
    top_k : int
        Keep only the ``top_k`` most likely values; 0 keeps all.
    top_p : float
        Keep the smallest set of values whose probability reaches ``top_p``; 1 keeps all.
    fields : tuple of (str, Sampling)
        A field's own rule (``pitch``, ``step``, ``duration``, ``track``), where it differs.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    fields: tuple[tuple[str, Sampling], ...] = ()

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    def rule(self, field: str) -> Sampling:
        """The rule of one field: its own, else the global one."""
        own = dict(self.fields).get(field)
        return own if own is not None else replace(self, fields=())

    def to_dict(self) -> dict[str, Any]:
        """Plain values for reports: the global rule and the fields' own."""
        out: dict[str, Any] = {k: getattr(self, k) for k in RULES}
        for field, rule in self.fields:
            out[field] = {k: getattr(rule, k) for k in RULES}
        return out

    @classmethod
    def from_config(cls, node: Any, key: str = "sampling") -> Sampling:
        """The rule of a config node (``conf/sampling``), every value checked by name:
        ``sampling.temperature must be a number > 0, got 'abc'``. A field's sub-node
        (``step: {temperature: 0.8}``) overrides the global values it sets (``null``: keep)."""
        node = OmegaConf.create(
            OmegaConf.to_container(node, resolve=True)
            if OmegaConf.is_config(node)
            else dict(node or {})
        )
        base = _checked(node, f"{key}.", cls())
        fields = []
        for field in SAMPLED_FIELDS:
            sub = node.get(field)
            if sub and any(sub.get(k) is not None for k in RULES):
                fields.append((field, _checked(sub, f"{key}.{field}.", base)))
        return replace(base, fields=tuple(fields))


def _checked(node: Any, prefix: str, defaults: Sampling) -> Sampling:
    from musegen.config_checks import integer, number, require

    checks = (
        ("temperature", number(0.0, low_inclusive=False), "a number > 0"),
        ("top_k", integer(0), "an integer >= 0 (0: off)"),
        ("top_p", number(0.0, 1.0, low_inclusive=False), "in (0, 1] (1: off)"),
    )
    for name, ok, what in checks:
        require(node, name, ok, what, optional=True, name=f"{prefix}{name}")
    values = {k: node.get(k) for k in RULES if node.get(k) is not None}
    return Sampling(
        temperature=float(values.get("temperature", defaults.temperature)),
        top_k=int(values.get("top_k", defaults.top_k)),
        top_p=float(values.get("top_p", defaults.top_p)),
    )


def filter_logits(logits: torch.Tensor, sampling: Sampling) -> torch.Tensor:
    """Temperature, top-k and top-p applied to ``(B, V)`` logits; removed values get -inf."""
    logits = logits / sampling.temperature  # (B, V)
    if sampling.top_k and sampling.top_k < logits.shape[-1]:
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        # drop a value when the values before it already reach top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs >= sampling.top_p  # (B, V)
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    return logits


def sample(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of ``(B, V)`` logits -> ``(B,)`` int64 indices.

    Inverse-CDF sampling: one uniform number per row, located in the cumulative
    probabilities. ``torch.multinomial`` (and the Gumbel trick) draw ``V`` random numbers per
    row instead, which made sampling cost as much as the network step for a batch of 64.
    Values removed by top-k/top-p have zero probability and are never drawn.
    """
    probs = filter_logits(logits.float(), sampling).softmax(dim=-1)  # (B, V)
    cdf = probs.cumsum(dim=-1)  # (B, V)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device) * cdf[:, -1:]
    index = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # (B,) first cdf > u
    return index.clamp_max(cdf.shape[-1] - 1)
