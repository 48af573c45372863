"""Sample new music from a trained checkpoint: ``python -m musegen.generate ckpt_path=...``.

Every sample is written to ``out_dir`` as MIDI, LPD-5 npz, a pianoroll PNG (primer shaded)
and a WAV (``render.audio``); ``generation.json`` lists them with the settings and where each
came from (``generation.run_defaults``: the command line, else the run's own, else
``conf/generate.yaml``). Every input is checked before anything is written. The files of a
run are staged and replace an earlier run's in ``out_dir`` as one set (``atomic.output_set``):
a run that fails or is stopped leaves the folder as it was, and one that ends leaves only
its own samples, never some of an earlier run's beside its ``generation.json``.

A piece plays as the music it continues: at its primer's tempo, with the primer's tempo
changes, and each track at the primer's median velocity; from scratch at the training songs'
median tempo and velocities, which the checkpoint stores (``data.performance``). ``tempo=``
sets one tempo for every piece instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig

from musegen.atomic import check_writable, clean_stale, output_set, write_json_atomic
from musegen.config_checks import check_missing, integer, number, require
from musegen.data.performance import DEFAULT_QPM, excerpt, tempo_map
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.data.tracks import LPD5_TRACKS, among
from musegen.errors import UserError, reported, stop_on_signals
from musegen.generation.accompany_file import Piece, accompaniments
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.notes import midi_primer
from musegen.generation.run_defaults import hydra_overrides, with_run_settings
from musegen.generation.runs import (
    RunError,
    TrainedRun,
    data_overrides,
    load_run,
    main_with_data_overrides,
)
from musegen.generation.sampling import Sampling
from musegen.render.audio import SYNTHS
from musegen.render.outputs import notes_in_files, write_sample

log = logging.getLogger(__name__)


class GenerationError(UserError):
    """A nonsense generation setting (one line naming the key)."""


MANIFEST = "generation.json"
OUTPUTS = re.compile(r"^(generation\.json|sample_\d{3,}\.(mid|npz|png|wav|ogg))$")
"""The names a generation writes into ``out_dir``: a later run replaces all of them."""

RUN_SETTINGS = {"sampling": "sampling", "context": "evaluate.context"}
"""The settings a run's own config gives by default: key here -> key in the run's config."""


def check_settings(cfg: DictConfig, settings: dict[str, Any] | None = None) -> DecodeOptions:
    """Validate the settings before loading anything (one line naming the key); return how
    notes will be drawn. ``settings``: the sampling and context to use (a run's own,
    ``RUN_SETTINGS``), else ``cfg``'s."""
    check_missing(cfg)
    for key in ("num_notes", "num_samples"):
        require(cfg, key, integer(1), "an integer >= 1")
    require(cfg, "seed", integer(0), "an integer >= 0")
    require(cfg, "synth", lambda v: v in SYNTHS, f"one of {', '.join(SYNTHS)}")
    require(
        cfg,
        "tempo",
        number(0.0, 1000.0, low_inclusive=False),
        "a number in (0, 1000] (qpm) or null (the music's own)",
        optional=True,
    )
    settings = settings or {k: cfg.get(k) for k in RUN_SETTINGS}
    try:
        return DecodeOptions(
            sampling=Sampling.from_config(settings["sampling"]),
            seed=int(cfg.seed),
            mode=str(cfg.mode),
            context=settings.get("context", "trained"),
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
    if isinstance(value, int | float) or not (isinstance(value, str) or hasattr(value, "__iter__")):
        raise GenerationError(f"tracks must be a list of track names, got {value!r}")
    names = among(value, model_tracks, "tracks")
    if not names:
        raise GenerationError(f"tracks: empty; the model's tracks are [{', '.join(model_tracks)}]")
    return tuple(names)


@dataclass
class Primers:
    """One primer per sample and the tempo its piece is written at.

    ``tempos`` are tempo maps (``data.performance.TEMPO_DTYPE``): the primer's own changes up
    to its last note, or one tempo from scratch; ``tempo_source`` says where they came from.
    """

    notes: list[np.ndarray]
    tempos: list[np.ndarray]
    tempo_source: str
    songs: list[str | None]


def primer_tempo(tempo: np.ndarray, primer: np.ndarray) -> np.ndarray:
    """The tempo changes of a primer's song up to the primer's last onset: the piece plays
    at its primer's tempo, and the continuation at the tempo the primer ends on."""
    return excerpt(tempo, 0, int(primer["time"][-1]) + 1 if len(primer) else 1)


def primers_from_test_split(
    run: TrainedRun, paths: Any, count: int, length: int, data_overrides: dict | None = None
) -> Primers:
    """The first ``length`` notes of ``count`` test songs of the run's data (cycled if few),
    each with its song's tempo."""
    dm = run.datamodule(paths, data_overrides)
    dm.prepare_data()
    dm.setup("test")
    split = dm.splits["test"]
    lengths = np.diff(split.offsets)
    usable = np.flatnonzero(lengths > length)
    if usable.size == 0:
        raise RunError(f"no test song has more than {length} notes to prime with; use primer=none")
    songs = [int(usable[i % usable.size]) for i in range(count)]
    notes = [split.song(s)[:length] for s in songs]
    tempos = [primer_tempo(split.tempo(s), n) for s, n in zip(songs, notes, strict=True)]
    ids = [split.song_ids[s] for s in songs]
    return Primers(notes, tempos, "the primer's song", ids)


def make_primers(run: TrainedRun, cfg: DictConfig) -> Primers:
    """One primer note array per sample (empty arrays for ``primer=none``) and its tempo."""
    primer, count = str(cfg.primer), int(cfg.num_samples)
    length = run.seq_len
    if primer == "none":
        empty = [np.empty(0, dtype=NOTE_DTYPE) for _ in range(count)]
        median = [tempo_map(run.performance.tempo)] * count
        return Primers(empty, median, f"from scratch: {run.performance.source}", [None] * count)
    if primer == "test":
        overrides = data_overrides(cfg)
        return primers_from_test_split(run, cfg.paths, count, length, overrides)
    path = Path(primer).expanduser()
    if not path.is_file():
        raise GenerationError(f"primer: {path} is not a file; use test, none or a MIDI file")
    notes, tempo, given = midi_primer(path, run.track_ids, length)
    source = (
        "the primer file"
        if given
        else f"the primer file has no tempo: MIDI's default {DEFAULT_QPM:g} qpm"
    )
    return Primers(
        [notes] * count, [primer_tempo(tempo, notes)] * count, source, [path.name] * count
    )


def tempo_record(tempo: np.ndarray, source: str) -> dict[str, Any]:
    """How ``generation.json`` states a piece's tempo: its first qpm, its changes, the source."""
    return {
        "qpm": float(tempo["qpm"][0]),
        "changes": [[int(t), float(q)] for t, q in zip(tempo["time"], tempo["qpm"], strict=True)],
        "source": source,
    }


def run_generation(cfg: DictConfig, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Generate and write the samples of ``cfg``; return what ``generation.json`` holds.
    ``overrides``: the command line's, which win over the run's own settings."""
    check_settings(cfg)  # every value of the command line, before anything is loaded
    out_dir = check_writable(cfg.out_dir, "out_dir")
    clean_stale(out_dir, recursive=True)
    run = load_run(cfg.ckpt_path, device=str(cfg.get("device", "cpu")))
    settings, sources = with_run_settings(cfg, run.config, RUN_SETTINGS, overrides)
    if run.config is None:
        log.info("no run config beside the checkpoint: sampling and context from conf/generate")
    options = check_settings(cfg, settings)
    model_tracks = [LPD5_TRACKS[t] for t in run.track_ids]
    if cfg.get("accompany") is not None:
        pieces, extra = accompaniments(cfg, run, replace(options, seq_len=run.seq_len))
        options = replace(options, tracks=tuple(extra.pop("tracks")))
    else:
        tracks = selected_tracks(cfg.get("tracks"), model_tracks)
        options = replace(options, seq_len=run.seq_len, tracks=tracks)
        pieces, extra = continuations(cfg, run, options)
    drawn = "velocity" in run.net.config.fields
    summary = {
        "ckpt_path": str(run.ckpt_path),
        "model": run.model_name,
        "primer": str(cfg.primer),
        "sampling": options.sampling.to_dict(),
        "context": options.context,
        "settings_from": sources,
        "seed": options.seed,
        "mode": options.mode,
        "tracks": list(options.tracks) if options.tracks else model_tracks,
        "performance": run.performance.to_dict(),
        "velocity_source": "drawn by the model"
        if drawn
        else "each track's median in the primer, else " + run.performance.source,
        **extra,
    }
    with output_set(out_dir, OUTPUTS.match, (MANIFEST,)) as stage:
        summary["samples"] = write_pieces(cfg, run, pieces, stage, out_dir)
        write_json_atomic(stage / MANIFEST, summary, indent=2)
    log.info("wrote %d samples to %s", len(pieces), out_dir)
    return summary


def write_pieces(
    cfg: DictConfig, run: TrainedRun, pieces: list[Piece], stage: Path, out_dir: Path
) -> list[dict[str, Any]]:
    """Write every piece's files into ``stage``; return their records for
    ``generation.json``, which name the files where they will be (``out_dir``)."""
    drawn = "velocity" in run.net.config.fields
    samples = []
    for i, piece in enumerate(pieces):
        files = write_sample(
            piece.notes,
            stage,
            f"sample_{i:03d}",
            primer_len=piece.primer_len,
            tempo=piece.tempo,
            audio=bool(cfg.audio),
            synth=str(cfg.synth),
            track_ids=run.track_ids,
            title=f"{run.model_name} sample {i}",
        )
        velocity = run.performance.velocities(piece.notes[: piece.primer_len])
        samples.append(
            {
                "notes": int(len(piece.notes) - piece.primer_len),
                "primer_notes": piece.primer_len,
                # what the files hold, primer included: notes of one key at one onset are one
                "notes_in_files": notes_in_files(files),
                "primer_song": piece.song,
                "tempo": tempo_record(piece.tempo, piece.tempo_source),
                "velocity": "drawn by the model"
                if drawn
                else {LPD5_TRACKS[t]: int(velocity[t]) for t in run.track_ids},
                "files": {k: str(out_dir / v.name) for k, v in files.items()},
            }
        )
    return samples


def continuations(
    cfg: DictConfig, run: TrainedRun, options: DecodeOptions
) -> tuple[list[Piece], dict[str, Any]]:
    """The primers of ``cfg.primer`` continued for ``num_notes`` notes each."""
    primers = make_primers(run, cfg)
    if cfg.get("tempo") is not None:  # one tempo for every piece
        primers.tempos = [tempo_map(float(cfg.tempo))] * len(primers.notes)
        primers.tempo_source = "tempo= on the command line"
    drawn = continue_primers(
        run.net, primers.notes, cfg.num_notes, run.track_ids, options, None, run.performance
    )
    pieces = [
        Piece(np.concatenate([p, c]), len(p), t, primers.tempo_source, song)
        for p, c, t, song in zip(primers.notes, drawn, primers.tempos, primers.songs, strict=True)
    ]
    return pieces, {}


@hydra.main(version_base="1.3", config_path="../conf", config_name="generate")
def _hydra_main(cfg: DictConfig) -> None:
    with reported():
        run_generation(cfg, hydra_overrides())


def main() -> None:
    """Entry point: ``data.<key>=`` overrides the run's data config (e.g. ``data.root``);
    SIGTERM and Ctrl-C stop it cleanly (no staged sample left behind; exit codes 143 and
    130, ``errors.stop_on_signals``)."""
    stop_on_signals()
    main_with_data_overrides("generate", _hydra_main)


if __name__ == "__main__":
    main()
