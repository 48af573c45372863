"""OmegaConf resolvers of musegen's configs, registered on import (before Hydra composes).

``${bar_steps:${data.resolution}}``: time steps of a bar of 4 beats (LPD stores no time
signature), for the bar-position input of the note encoder.

``${uid:}``: a random 6-hex-digit token, the same within one composed config (cached, and
copied by Hydra into every job of a sweep). It completes run-folder names, whose time has
one-second resolution: two runs started in the same second (a job array, two terminals)
still get two folders instead of writing into one.

``${sweep_group:}``: the sweep folder's name in a multirun (``-m``), else null. W&B runs
of one sweep share it as their group, so a dashboard shows a comparison's models together
and averages its seeds; a single run has no group.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from omegaconf import OmegaConf

from musegen.data.note_timing import bar_steps


def _uid() -> str:
    return secrets.token_hex(3)


def sweep_group() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    return Path(str(hydra_cfg.sweep.dir)).name


if not OmegaConf.has_resolver("uid"):
    OmegaConf.register_new_resolver("uid", _uid, use_cache=True)
if not OmegaConf.has_resolver("bar_steps"):
    OmegaConf.register_new_resolver("bar_steps", bar_steps)
if not OmegaConf.has_resolver("sweep_group"):
    OmegaConf.register_new_resolver("sweep_group", sweep_group)
