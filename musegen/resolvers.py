"""OmegaConf resolvers of musegen's configs, registered on import (before Hydra composes).

``${uid:}``: a random 6-hex-digit token, the same within one composed config (cached, and
copied by Hydra into every job of a sweep). It completes run-folder names, whose time has
one-second resolution: two runs started in the same second (a job array, two terminals)
still get two folders instead of writing into one.
"""

from __future__ import annotations

import secrets

from omegaconf import OmegaConf


def _uid() -> str:
    return secrets.token_hex(3)


if not OmegaConf.has_resolver("uid"):
    OmegaConf.register_new_resolver("uid", _uid, use_cache=True)
