"""User mistakes in a training config, reported in one line that names the key.

Two layers: ``check_overrides`` looks at the command line before Hydra composes anything
(an unknown ``model=foo`` would otherwise end in Hydra's multi-line report), and
``check_config`` looks at the composed config before any data is built or model trained.
Data keys are checked again by ``NoteDataModule`` itself; this module fails earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from musegen.checks import Check, ConfigError, check, integer, number
from musegen.errors import first_line

__all__ = ["ConfigError", "check_config", "check_overrides", "compose_checked", "integer", "number"]

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"
OPTIONAL_GROUPS = ("experiment", "hparams_search", "debug")
"""Groups whose default is ``null``, so ``<group>=null`` is a valid choice."""
MAX_SEED = 2**32 - 1
"""The largest seed ``lightning.seed_everything`` (NumPy's generator) accepts."""


def group_choices(group: str, config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of the ``.yaml`` files of one config group (e.g. ``model``), sorted; files whose
    name starts with ``_`` are parts the choices include (``data/_common.yaml``)."""
    folder = config_dir / group
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))


def check_overrides(
    args: Iterable[str], config_dir: Path = CONFIG_DIR, config_name: str | None = "train"
) -> None:
    """Reject, in one line, command-line overrides that Hydra would report in many.

    ``<group>=<unknown>`` lists the valid choices (a sweep ``model=rnn,lstm`` checks every
    value). Then the config is composed once with the overrides (a sweep's first value of
    each) so that a key that does not exist (``task.loss_weights.foo=1``) or a plugin that is
    not installed is caught before Hydra's multi-line report. Arguments Hydra rejects for
    their syntax are left to Hydra.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    args = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        overrides = OverridesParser.create().parse_overrides(args)
    except HydraException:
        return
    single: list[str] = []
    searched = _search_path_folders(overrides)
    for ov in overrides:
        values = _values(ov)
        if values is None:  # a range or interval: the sweeper's to expand
            continue
        sweep = ov.is_sweep_override()
        single.append(f"{ov.get_key_element()}={values[0]}" if sweep else ov.input_line)
        group = ov.key_or_group
        if group.startswith("hydra") or not (config_dir / group).is_dir() or ov.is_delete():
            continue
        valid = sorted({c for d in (config_dir, *searched) for c in group_choices(group, d)})
        for value in values:
            if value in valid or (value == "null" and group in OPTIONAL_GROUPS):
                continue
            raise ConfigError(f"{group}={value}: unknown {group}; choose from {', '.join(valid)}")
    if config_name is not None:
        compose_checked(config_name, single, config_dir)


def _search_path_folders(overrides: list[Any]) -> list[Path]:
    """The ``file://`` folders of a ``hydra.searchpath=[...]`` override: a user's own config
    groups (e.g. ``model/my_net.yaml`` for a plug-in backbone) are choices too."""
    folders = []
    for ov in overrides:
        if ov.key_or_group == "hydra.searchpath" and not ov.is_sweep_override():
            value = ov.value()
            for entry in value if isinstance(value, list) else [value]:
                if isinstance(entry, str) and entry.startswith("file://"):
                    folders.append(Path(entry.removeprefix("file://")))
    return folders


def _values(ov: Any) -> list[str] | None:
    """The values of one override as strings; ``None`` for a range/interval sweep."""
    if not ov.is_sweep_override():
        return [ov.get_value_element_as_str()] if not ov.is_delete() else [""]
    if not ov.is_choice_sweep():
        return None
    return list(ov.sweep_string_iterator())


def compose_checked(
    config_name: str,
    overrides: list[str],
    config_dir: Path = CONFIG_DIR,
    return_hydra_config: bool = False,
) -> DictConfig:
    """Hydra's ``compose``, its errors turned into one-line ``ConfigError``s."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    import musegen.resolvers  # noqa: F401  (${uid:} in the run folder's name)

    try:
        with initialize_config_dir(str(config_dir), version_base="1.3"):
            return compose(
                config_name, overrides=overrides, return_hydra_config=return_hydra_config
            )
    except (HydraException, OmegaConfBaseException) as exc:
        text = f"{exc} {exc.__cause__ or ''}"
        culprit = next((o for o in overrides if f"'{o.split('=')[0].lstrip('+~')}'" in text), None)
        if culprit is not None and "not in struct" in text:
            key = culprit.split("=")[0]
            raise ConfigError(
                f"{culprit}: no key {key} in the config (check the spelling; "
                f"+{key}=... adds a new one)"
            ) from None
        raise ConfigError(first_line(exc)) from None


def _get(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, default=None)


def require(
    cfg: DictConfig, key: str, ok: Check, what: str, optional: bool = False, name: str | None = None
) -> None:
    """``checks.check`` of the value at ``key`` of a composed config (``ConfigError("<name>
    must be <what>, got <value>")``); ``name`` is how the user writes it (default: ``key``),
    for a node checked on its own; ``optional``: ``None`` passes."""
    value = _get(cfg, key)
    if value is None and optional:
        return
    check(value, name or key, ok, what)


REQUIRED_HINTS = {
    "ckpt_path": "ckpt_path=<run>/checkpoints/last.ckpt (a checkpoint written by musegen.train)",
}


def _missing(node: Any, prefix: str = "") -> list[str]:
    """Keys whose value is ``???``, without resolving any interpolation (Hydra's own
    section is skipped: its interpolations need a running job)."""
    found = []
    items = node.items_ex(resolve=False) if isinstance(node, DictConfig) else []
    for key, _ in items:
        full = f"{prefix}{key}"
        if full == "hydra":
            continue
        if OmegaConf.is_missing(node, key):
            found.append(full)
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            found += _missing(child, f"{full}.")
    return found


def check_missing(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` for the first required key (``???``) left unset, with a hint."""
    missing = _missing(cfg)
    if not missing:
        return
    key = sorted(missing)[0]
    if key == "data.root":
        from musegen.data.sources import root_hint

        raise ConfigError(root_hint(str(OmegaConf.select(cfg, "data.source", default="?"))))
    raise ConfigError(f"{key} is required: {REQUIRED_HINTS.get(key, f'{key}=<value>')}")


def _check_stream(cfg: DictConfig) -> None:
    """``data.stream=true`` on a network whose state cannot be carried: one line."""
    if _get(cfg, "data.stream") is not True:
        return
    # here, not at the top: torch loads only for a config that asks for streams
    from musegen.models.network import can_carry_state, resolve_backbone

    try:
        backbone = resolve_backbone(_get(cfg, "model.net._target_"))
    except ValueError:
        return  # the network's own check names it, in one line, when it is built
    texture = _get(cfg, "task.encoder.texture_dim") or 0
    if not can_carry_state(backbone, texture):
        raise ConfigError(
            "data.stream=true carries the network's state from batch to batch: it needs a "
            "recurrent backbone (model=rnn|lstm|gru|lstm_gru) and no texture input "
            "(task.encoder.texture_dim=0); set data.stream=false for this network"
        )


def _check_ahead(cfg: DictConfig) -> None:
    """``data.ahead`` on a network that does not read the kept music, a network that reads it
    trained without it (its input would keep its random weights), or with streams: one
    line."""
    ahead = _get(cfg, "data.ahead") or 0
    if not isinstance(ahead, int | float) or isinstance(ahead, bool):
        return  # the datamodule names a value that is not a share
    if ahead == 0:
        if _get(cfg, "task.encoder.ahead_dim"):
            raise ConfigError(
                "task.encoder.ahead_dim reads the kept music ahead, but data.ahead=0 never "
                "trains it: set data.ahead (e.g. 0.5, as experiment=lakh_accompany), or "
                "task.encoder.ahead_dim=0"
            )
        return
    if not _get(cfg, "task.encoder.ahead_dim"):
        raise ConfigError(
            f"data.ahead={ahead} trains for accompaniment, but the network does not read the "
            "kept music ahead: set task.encoder.ahead_dim (e.g. 32), or data.ahead=0"
        )
    if _get(cfg, "data.stream") is True:
        raise ConfigError(
            "data.ahead draws kept tracks window by window, data.stream runs whole songs: "
            "set one of them off"
        )


def check_config(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` (one line naming the key) for what no constructor checks.

    The datamodule, the task (its network, heads, encoder, losses and optimizer) and the
    backbone check their own values when they are built, which ``musegen.training`` does before
    any data is prepared. What remains is checked here: a required key left ``???``, the
    trainer's limits (Lightning's own errors are not one line), the seed, the checkpoint to
    resume from, and that there is something to do.
    """
    check_missing(cfg)
    require(
        cfg, "trainer.max_epochs", integer(-1), "an integer >= -1 (-1: no limit)", optional=True
    )
    require(cfg, "trainer.max_steps", integer(-1), "an integer >= -1 (-1: no limit)", optional=True)
    require(cfg, "trainer.gradient_clip_val", number(0.0), "a number >= 0 or null", optional=True)
    require(
        cfg,
        "seed",
        lambda v: integer(0)(v) and v <= MAX_SEED,
        f"an integer in [0, {MAX_SEED}] or null",
        optional=True,
    )
    _check_stream(cfg)
    _check_ahead(cfg)
    ckpt = _get(cfg, "ckpt_path")
    if ckpt is not None and not Path(str(ckpt)).expanduser().is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint file {ckpt}")
    init = _get(cfg, "init_from")
    if init is not None:
        from musegen.pretrained import resolve

        if ckpt is not None:
            raise ConfigError(
                "init_from and ckpt_path: ckpt_path resumes a run, init_from starts a new one "
                "from trained weights; give one"
            )
        if not resolve(init, "init_from").is_file():
            raise ConfigError(f"init_from: no such checkpoint file {init}")
    if not _get(cfg, "train") and not _get(cfg, "test"):
        raise ConfigError("train and test are both false: nothing to do")
    if not _get(cfg, "train") and ckpt is None:
        raise ConfigError("ckpt_path: train=false tests a trained model; give its checkpoint")
