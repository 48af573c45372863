"""Sample new music from a trained checkpoint: ``python -m musegen.generate ckpt_path=...``.

Every sample is written to ``out_dir`` as MIDI, LPD-5 npz, a pianoroll PNG (primer shaded)
and a WAV (``render.audio``); ``generation.json`` lists them with the settings. Every input is
checked before anything is written, and each sample's files appear together or not at all.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from musegen.atomic import check_writable, clean_stale, write_json_atomic
from musegen.config_checks import check_missing, integer, number, require
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import LPD5_TRACKS
from musegen.errors import UserError, reported, terminate_on_sigterm
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.decode import MODES
from musegen.generation.notes import midi_primer
from musegen.generation.runs import (
    RunError,
    TrainedRun,
    data_overrides,
    load_run,
    main_with_data_overrides,
)
from musegen.generation.sampling import Sampling
from musegen.render.audio import SYNTHS
from musegen.render.outputs import write_sample

log = logging.getLogger(__name__)


class GenerationError(UserError):
    """A nonsense generation setting (one line naming the key)."""


def check_settings(cfg: DictConfig) -> DecodeOptions:
    """Validate the settings before loading anything (one line naming the key); return how
    notes will be drawn."""
    check_missing(cfg)
    for key in ("num_notes", "num_samples"):
        require(cfg, key, integer(1), "an integer >= 1")
    require(cfg, "mode", lambda v: v in MODES, f"one of {', '.join(MODES)}")
    require(cfg, "seed", integer(0), "an integer >= 0")
    require(cfg, "synth", lambda v: v in SYNTHS, f"one of {', '.join(SYNTHS)}")
    require(cfg, "tempo", number(0.0, 1000.0, low_inclusive=False), "a number in (0, 1000] (qpm)")
    try:
        return DecodeOptions(
            sampling=Sampling.from_config(cfg.sampling),
            seed=int(cfg.seed),
            mode=str(cfg.mode),
            context=cfg.get("context", "trained"),
        )
    except UserError:  # a setting named by its key (ConfigError) stays as it is
        raise
    except ValueError as err:
        raise GenerationError(str(err)) from None


def selected_tracks(value: Any, model_tracks: list[str]) -> tuple[str, ...] | None:
    """``tracks=[Drums,Bass]``: the model's tracks to draw, checked against its own (one line
    listing them); None for every track."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    known = {t.lower(): t for t in model_tracks}
    unknown = [str(n) for n in names if str(n).lower() not in known]
    if unknown or not names:
        raise GenerationError(
            f"tracks: {', '.join(unknown) or 'empty'} is not a track of this model; "
            f"its tracks are [{', '.join(model_tracks)}]"
        )
    return tuple(known[str(n).lower()] for n in names)


def primers_from_test_split(
    run: TrainedRun, paths: Any, count: int, length: int, data_overrides: dict | None = None
) -> list[np.ndarray]:
    """The first ``length`` notes of ``count`` test songs of the run's data (cycled if few)."""
    dm = run.datamodule(paths, data_overrides)
    dm.prepare_data()
    dm.setup("test")
    split = dm.splits["test"]
    lengths = np.diff(split.offsets)
    usable = np.flatnonzero(lengths > length)
    if usable.size == 0:
        raise RunError(f"no test song has more than {length} notes to prime with; use primer=none")
    return [split.song(int(usable[i % usable.size]))[:length] for i in range(count)]


def make_primers(run: TrainedRun, cfg: DictConfig) -> list[np.ndarray]:
    """One primer note array per sample (empty arrays for ``primer=none``)."""
    primer = str(cfg.primer)
    length = run.seq_len
    if primer == "none":
        return [np.empty(0, dtype=NOTE_DTYPE) for _ in range(cfg.num_samples)]
    if primer == "test":
        overrides = data_overrides(cfg)
        return primers_from_test_split(run, cfg.paths, cfg.num_samples, length, overrides)
    path = Path(primer).expanduser()
    if not path.is_file():
        raise GenerationError(f"primer: {path} is not a file; use test, none or a MIDI file")
    notes = midi_primer(path, run.track_ids, length)
    return [notes] * cfg.num_samples


def run_generation(cfg: DictConfig) -> dict[str, Any]:
    """Generate and write the samples of ``cfg``; return what ``generation.json`` holds."""
    options = check_settings(cfg)
    out_dir = check_writable(cfg.out_dir, "out_dir")
    clean_stale(out_dir, recursive=True)
    run = load_run(cfg.ckpt_path, device=str(cfg.get("device", "cpu")))
    model_tracks = [LPD5_TRACKS[t] for t in run.track_ids]
    tracks = selected_tracks(cfg.get("tracks"), model_tracks)
    options = replace(options, seq_len=run.seq_len, tracks=tracks)
    primers = make_primers(run, cfg)
    continuations = continue_primers(run.net, primers, cfg.num_notes, run.track_ids, options)
    samples = []
    for i, (primer, continuation) in enumerate(zip(primers, continuations, strict=True)):
        piece = np.concatenate([primer, continuation])
        files = write_sample(
            piece,
            out_dir,
            f"sample_{i:03d}",
            primer_len=len(primer),
            tempo=float(cfg.tempo),
            audio=bool(cfg.audio),
            synth=str(cfg.synth),
            track_ids=run.track_ids,
            title=f"{run.model_name} sample {i}",
        )
        samples.append(
            {
                "notes": int(len(piece) - len(primer)),
                "primer_notes": len(primer),
                "files": {k: str(v) for k, v in files.items()},
            }
        )
    summary = {
        "ckpt_path": str(run.ckpt_path),
        "model": run.model_name,
        "primer": str(cfg.primer),
        "sampling": options.sampling.to_dict(),
        "seed": options.seed,
        "mode": options.mode,
        "tracks": list(tracks) if tracks else model_tracks,
        "samples": samples,
    }
    write_json_atomic(out_dir / "generation.json", summary, indent=2)
    log.info("wrote %d samples to %s", len(samples), out_dir)
    return summary


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
def _hydra_main(cfg: DictConfig) -> None:
    with reported():
        run_generation(cfg)


def main() -> None:
    """Entry point: ``data.<key>=`` overrides the run's data config (e.g. ``data.root``);
    SIGTERM stops it cleanly (no staged sample left behind), exit code 143."""
    terminate_on_sigterm()
    main_with_data_overrides("generate", _hydra_main)


if __name__ == "__main__":
    main()
