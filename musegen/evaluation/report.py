"""The evaluation report of a network on a datamodule's test songs.

Written to ``evaluation.json`` (everything), ``evaluation.md`` (the tables) and
``index.html`` (the tables with audio and pianorolls of the samples beside the real music):

1. the test losses (``Trainer.test``'s, passed in): the note NLL and each field's;
2. for each kind of sample (``samples``: continuations of the test songs, and pieces from
   scratch), scored against real excerpts of the training songs (``scoring``):
   per-instrument statistics, the distribution overlap of Yang & Lerch (mean OA over the
   features; the summary of a model), and MusPy's and MuseGAN's metrics; beside the model,
   every control row (real vs real, scrambled instruments, key broken, unigram, uniform
   random, repeat primer), scored by the same code; and the evaluation over time
   (``metrics.over_time``): per-bar curves, their overlap with real bars at the same bar
   number and the structure of every row, two controls of form added (bars shuffled, one
   bar looped), drawn in ``over_time.png``;
3. the paper's cosine similarity made precise (``metrics.similarity``) with its reference
   rows, kept because it is the paper's measure, and shown to reward copying: the repeated
   primer and the unigram sampler score above another real song.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from musegen.atomic import write_bytes_atomic, write_json_atomic
from musegen.checks import check, integer, one_of
from musegen.data.note_timing import RESOLUTION, onsets_and_lengths
from musegen.data.performance import Performance
from musegen.data.tracks import LPD5_TRACKS
from musegen.errors import UserError
from musegen.evaluation.markdown import (
    KIND_TITLES,
    absent_markdown,
    bars_markdown,
    listening_notes,
    overlap_markdown,
    structure_markdown,
    summary_markdown,
    track_markdown,
)
from musegen.evaluation.plots import over_time_plot
from musegen.evaluation.samples import SampleSet, continuation_set, reference_split, scratch_set
from musegen.evaluation.scoring import score_set
from musegen.generation.continuation import DecodeOptions
from musegen.generation.decode import TRAINED
from musegen.generation.sampling import Sampling
from musegen.metrics import REAL_ROW
from musegen.metrics.musical import to_markdown
from musegen.metrics.references import reference_rows
from musegen.metrics.similarity import FEATURES, SimilarityResult, score_continuations
from musegen.models.config import MIN_CONTEXT
from musegen.render.audio import SYNTHS, audio_description
from musegen.render.outputs import AUDIO_FORMATS, write_sample
from musegen.render.page import Media, write_page

log = logging.getLogger(__name__)


class EvaluationError(UserError):
    """The data cannot be evaluated on (one line: what and what to do)."""


SCORED_SPLITS = ("test", "val")
"""The songs an evaluation may score: the test songs (reported results), or the validation
songs, on which sampling settings are tuned without looking at the test songs."""


@dataclass(frozen=True)
class EvaluationSettings:
    """What is scored and how samples are drawn: each setting's default is here and its rule
    in ``RULES``; ``conf/evaluation/default.yaml`` lists the same defaults for Hydra, with a
    line on each (``tests/test_config.py`` holds them equal)."""

    max_songs: int = 64  # scored songs continued (those with more notes than the primer)
    primer_len: int = 25  # notes of each song that prime its continuation
    max_notes: int = 256  # continuation notes per song (the real one, capped)
    scratch_samples: int = 64  # pieces generated from scratch
    scratch_bars: int = 16  # bars of each piece from scratch
    reference_samples: int = 128  # real excerpts of the training songs: the reference set
    num_samples: int = 3  # songs of each kind written beside the report, with the real ones
    audio: bool = True  # audio of the samples
    synth: str = "tinysoundfont"  # their synthesizer (render.audio)
    audio_format: str = "wav"  # or ogg (results kept in git)
    context: int | str | None = "trained"  # decoding's context (generation.decode)
    seed: int = 0
    sampling: Sampling = field(default_factory=Sampling)
    split: str = "test"  # the songs scored: "test", or "val" to tune sampling on

    def __post_init__(self) -> None:
        self.check_values(self, "")

    @staticmethod
    def check_values(values: Any, prefix: str) -> None:
        """Every setting of ``values`` (attributes or a mapping) by its rule, named
        ``<prefix><key>`` in the one-line error (``evaluate.`` after training)."""
        get = values.get if isinstance(values, Mapping) else lambda k, d=None: getattr(values, k)
        for key, (rule, what) in RULES.items():
            check(get(key, None), f"{prefix}{key}", rule, what)

    @classmethod
    def from_config(
        cls, node: Mapping[str, Any], sampling: Any = None, prefix: str = ""
    ) -> EvaluationSettings:
        """The settings a config node sets (the others default), checked by name first."""
        given = {k: v for k, v in dict(node).items() if k in RULES}
        cls.check_values({**{k: getattr(cls(), k) for k in RULES}, **given}, prefix)
        return cls(**given, sampling=Sampling.from_config(sampling or {}))


SETTING_NAMES: tuple[str, ...] = tuple(f.name for f in fields(EvaluationSettings))
"""Every evaluation setting (conf/evaluation/default.yaml's keys, and ``sampling``)."""

RULES: dict[str, tuple[Any, str]] = {
    "max_songs": (integer(2), "an integer >= 2 (real songs are compared with each other)"),
    "primer_len": (integer(1), "an integer >= 1"),
    "max_notes": (integer(1), "an integer >= 1"),
    "scratch_samples": (integer(2), "an integer >= 2 (the overlap needs two pieces)"),
    "scratch_bars": (integer(1), "an integer >= 1"),
    "reference_samples": (integer(3), "an integer >= 3 (the overlap needs distances)"),
    "num_samples": (integer(0), "an integer >= 0"),
    "audio": (lambda v: isinstance(v, bool), "true or false"),
    "synth": (one_of(SYNTHS), f"one of {', '.join(SYNTHS)}"),
    "audio_format": (one_of(AUDIO_FORMATS), f"one of {', '.join(AUDIO_FORMATS)}"),
    "context": (
        lambda v: v is None or v == TRAINED or integer(MIN_CONTEXT)(v),
        f"{TRAINED}, null or an integer >= {MIN_CONTEXT}",
    ),
    "seed": (integer(0), "an integer >= 0"),
    "split": (one_of(SCORED_SPLITS), f"one of {', '.join(SCORED_SPLITS)}"),
}
"""Each setting's rule and its words (``checks.check``)."""


def check_scored_split(dm: Any, primer_len: int, split: str = "test") -> None:
    """Refuse, in one line, a split the evaluation cannot score (the test songs, or
    ``split``'s): it compares real songs with each other, so it needs two that are longer
    than the primer. ``dm`` is set up."""
    usable = int((np.diff(dm.splits[split].offsets) > primer_len).sum())
    if usable < 2:
        raise EvaluationError(
            f"the {split} split has {usable} song(s) longer than primer_len={primer_len} "
            "notes; the evaluation compares real songs with each other and needs at least 2 "
            "(add songs, or lower primer_len)"
        )


def evaluate_songs(
    net: Any,
    track_ids: Sequence[int],
    dm: Any,
    out_dir: Path,
    settings: EvaluationSettings,
    model_name: str = "model",
    losses: dict[str, float] | None = None,
    ckpt_path: str | None = None,
    resolution: int = RESOLUTION,
    performance: Performance | None = None,
    settings_from: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Score ``net`` on ``dm``'s test split (or ``settings.split``); write the report files
    and the samples.

    ``dm`` is set up for testing (``splits``). The reference set and the random controls
    come from its training notes, or from the validation or test notes when there are none
    (``data.split=test``; the report says which). ``performance``: the tempo and velocities
    the model plays where the music does not say (the checkpoint's); ``settings_from``:
    where each setting came from (``generation.run_defaults``), recorded as it is.
    """
    performance = performance or Performance()
    bar_steps = 4 * resolution
    check_scored_split(dm, settings.primer_len, settings.split)
    options = DecodeOptions(
        sampling=settings.sampling,
        seed=settings.seed,
        resolution=resolution,
        context=settings.context,
    )
    track_ids = list(track_ids)
    try:
        args = (net, dm, track_ids, settings, options, model_name, bar_steps, performance)
        sets = {"continuation": continuation_set(*args), "scratch": scratch_set(*args)}
    except ValueError as err:
        raise EvaluationError(f"cannot evaluate on these {settings.split} songs: {err}") from None
    scored = {kind: score_set(s, track_ids, settings.seed, resolution) for kind, s in sets.items()}
    similarity = paper_similarity(sets["continuation"], dm, track_ids, settings, model_name)
    absent = absent_tracks(sets.values(), track_ids)
    if absent:
        log.warning(
            "%s: no notes in the real songs evaluated here; the model's notes on %s are "
            "scored against nothing real",
            ", ".join(absent),
            "it" if len(absent) == 1 else "them",
        )
    report = {
        "ckpt_path": checkpoint_name(ckpt_path),
        "model": model_name,
        "track_ids": track_ids,
        "absent_tracks": absent,
        "settings": {
            k: getattr(settings, k) for k in settings.__dataclass_fields__ if k != "sampling"
        },
        "songs": len(sets["continuation"].primers),
        "song_ids": [dm.splits[settings.split].song_ids[i] for i in sets["continuation"].sources],
        "reference": reference_split(dm)[1],
        "sampling": settings.sampling.to_dict(),
        "settings_from": dict(settings_from or {}),
        "performance": performance.to_dict(),
        "test": dict(losses or {}),  # keys as in training: "test/note_nll", ...
        "kinds": scored,
        "similarity": {name: res.to_dict() for name, res in similarity.items()},
        "samples": write_samples(
            sets, out_dir, settings, track_ids, model_name, dm.splits, resolution
        ),
    }
    write_report(report, similarity, out_dir)
    return report


def absent_tracks(sets: Iterable[SampleSet], track_ids: Sequence[int]) -> list[str]:
    """The model's tracks on which no real piece read here has a note (the reference
    excerpts and the real songs scored): a model can play a track its training songs had and
    these songs lack (piano-only songs for a band model)."""
    real = [p for s in sets for p in (*s.reference, *s.rows.get(REAL_ROW, ()))]
    present = set(np.concatenate([p["track"] for p in real]).tolist()) if real else set()
    return [LPD5_TRACKS[t] for t in track_ids if t not in present]


def checkpoint_name(path: str | Path | None) -> str | None:
    """A checkpoint as a report names it: its run folder's name and its path in it
    (``<run>/checkpoints/<file>``), so a kept report names no folder of the machine that
    wrote it."""
    if path is None:
        return None
    path = Path(path)
    if path.parent.name == "checkpoints":
        return f"{path.parent.parent.name}/checkpoints/{path.name}"
    return path.name


def paper_similarity(
    continuations: SampleSet,
    dm: Any,
    track_ids: Sequence[int],
    settings: EvaluationSettings,
    model_name: str,
) -> dict[str, SimilarityResult]:
    """The paper's cosine similarity of the model's continuations and its reference rows."""
    real = continuations.rows[REAL_ROW]
    generated = continuations.rows[model_name]
    songs = [np.concatenate([p, r]) for p, r in zip(continuations.primers, real, strict=True)]
    rows = {model_name: score_continuations(real, generated)}
    rows.update(
        reference_rows(
            songs,
            reference_split(dm)[0].columns,
            list(track_ids),
            settings.primer_len,
            max_len=settings.max_notes,
            seed=settings.seed,
        )
    )
    return rows


def piece_bars(notes: np.ndarray, resolution: int = RESOLUTION, beats_per_bar: int = 4) -> int:
    """How many bars a piece spans, to the end of its last note (at least 1)."""
    if len(notes) == 0:
        return 1
    onset, length = onsets_and_lengths(notes, resolution)
    return max(1, -(-int((onset + length).max()) // (beats_per_bar * resolution)))


SONGS = {"test": "test song", "val": "validation song"}


def sample_caption(
    row: str, kind: str, song: str, primer_len: int, qpm: float, split: str = "test"
) -> str:
    """A sample's caption in words: whose it is, what it continues, at which tempo."""
    who = "real music" if row == REAL_ROW else row
    if kind == "continuation":
        what = f"continuation of {SONGS[split]} {song} after its first {primer_len} notes"
    elif row == REAL_ROW:
        what = f"an excerpt of {SONGS[split]} {song}"
    else:
        what = "from scratch"
    return f"{who}: {what}, {qpm:.0f} qpm"


def write_samples(
    sets: dict[str, SampleSet],
    out_dir: Path,
    settings: EvaluationSettings,
    track_ids: Sequence[int],
    model_name: str,
    splits: Any,
    resolution: int = RESOLUTION,
) -> list[dict[str, Any]]:
    """The first ``num_samples`` pieces of each kind, the model's and the real ones, as MIDI,
    npz, PNG and audio in ``out_dir/samples``: ``continuation_000`` beside
    ``real_continuation_000``, and so on. The two pianorolls of a pair share a time axis (a
    piece compressed in time looks compressed); each piece plays at its own tempo
    (``SampleSet.tempos``). Files are recorded relative to ``out_dir``."""
    samples = []
    song_ids = splits[settings.split].song_ids
    for kind, sample_set in sets.items():
        rows = ((model_name, kind), (REAL_ROW, f"real_{kind}"))
        count = min(settings.num_samples, *(len(sample_set.rows[r]) for r, _ in rows))
        for i in range(count):  # the model's piece beside the real one, pair after pair
            primer = sample_set.primers[i] if i < len(sample_set.primers) else None
            primer_len = 0 if primer is None else len(primer)
            pieces = {
                row: sample_set.rows[row][i]
                if primer is None
                else np.concatenate([primer, sample_set.rows[row][i]])
                for row, _ in rows
            }
            bars = max(piece_bars(p, resolution) for p in pieces.values())
            song = song_ids[sample_set.sources[i]] if i < len(sample_set.sources) else "?"
            for row, prefix in rows:
                tempo = sample_set.tempos[row][i]
                caption = sample_caption(
                    row, kind, song, primer_len, float(tempo["qpm"][0]), settings.split
                )
                files = write_sample(
                    pieces[row],
                    out_dir / "samples",
                    f"{prefix}_{i:03d}",
                    primer_len=primer_len,
                    resolution=resolution,
                    tempo=tempo,
                    audio=settings.audio,
                    synth=settings.synth,
                    audio_format=settings.audio_format,
                    track_ids=list(track_ids),
                    title=caption,
                    bars=bars,
                )
                samples.append(
                    {
                        "kind": kind,
                        "row": row,
                        "index": i,
                        "song": song,
                        "caption": caption,
                        "primer_len": primer_len,
                        "qpm": float(tempo["qpm"][0]),
                        "tempo_changes": len(tempo),
                        "bars": bars,
                    }
                    | {k: v.relative_to(out_dir).as_posix() for k, v in files.items()}
                )
    return samples


def _num(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.4f}"


CURVES = "over_time.png"
"""The curves of the evaluation over time, beside ``evaluation.md``."""


def over_time_section(report: dict[str, Any], curves: str | None) -> list[str]:
    """The evaluation over time: what it measures, the curves and, per kind, the model's and
    real vs real's per-bar figures by blocks of bars and every row's structure."""
    kinds = {k: s["over_time"] for k, s in report["kinds"].items() if s.get("over_time")}
    if not kinds:
        return []
    md = [
        "## Over time: bar by bar, and the form",
        "",
        "Each piece read bar by bar (from scratch: every bar from the start; continuations: "
        "bar 1 holds the first generated note, and the last bar, cut by the note count, is "
        "left out). Per bar, averaged over the pieces: notes a bar per track, the pitched tracks' "
        "mean durations, polyphony, pitch-class entropy, the share of pitched notes in the "
        "scale of the piece's bars 1-4, and the similarity to the previous bar; the per-bar "
        "OA compares these with the reference's bars at the same bar number (Yang & Lerch, "
        "mean over the features). Structureness: how well the piece repeats itself at its "
        "best lag of 1-8 bars (after Wu & Yang's structureness indicator, ISMIR 2020; a "
        "looped bar scores 1); structure contrast: structureness minus the piece's mean "
        "bar-to-bar similarity (bars shuffled score near 0, a loop 0). Two controls of form "
        "are scored here only: real bars shuffled (form broken, every bar real) and one real "
        "bar looped. docs/evaluation.md has the definitions.",
        "",
    ]
    if curves:
        md += [f"![The evaluation over time]({curves})", ""]
    for kind, over_time in kinds.items():
        md += [
            f"### {KIND_TITLES[kind].capitalize()}: per bar (model and real vs real)",
            "",
            bars_markdown(over_time, report["model"]),
            "",
            f"### {KIND_TITLES[kind].capitalize()}: structure of every row",
            "",
            "Mean over pieces (10th-90th percentile); in real band: the share of pieces within "
            "the reference's 10th-90th percentiles (real music: about 0.8).",
            "",
            structure_markdown(over_time),
            "",
        ]
    return md


def report_markdown(
    report: dict[str, Any], similarity: dict[str, SimilarityResult], curves: str | None = None
) -> str:
    """``evaluation.md``: every table of the report; ``curves``: the PNG of the evaluation
    over time, relative to the report's folder (None: none drawn)."""
    name, losses = report["model"], report["test"]
    st = report["settings"]
    md = [f"# Evaluation of {name}", "", f"Checkpoint: `{report['ckpt_path']}`", ""]
    md += absent_markdown(report.get("absent_tracks", ()))
    if losses:
        md += ["## Test losses (nats)", "", "| metric | value |", "| --- | --- |"]
        md += [f"| {k} | {_num(v)} |" for k, v in sorted(losses.items())] + [""]
    md += [
        "## Summary: distribution overlap with real music",
        "",
        "Mean overlapping area (OA: 1 when a set's feature distances are distributed as the "
        "reference's own, identical sets; held-out real music is the ceiling in practice) and "
        "KL divergence over the per-piece features of Yang & Lerch (2020) and ours, each set "
        f"against {st['reference_samples']} real excerpts of the {report['reference']} songs; "
        "± is the spread over subsamples of 80% of each set. The rows after the model are "
        "controls scored by the same code: real vs real must be highest, every broken "
        "control lower.",
        "",
        summary_markdown(report["kinds"]),
        "",
        *over_time_section(report, curves),
    ]
    songs = {"test": "test", "val": "validation"}[st.get("split", "test")]
    for kind, scored in report["kinds"].items():
        pieces = scored["pieces"]
        if kind == "continuation":
            what = (
                f"{report['songs']} {songs} songs, each primed with its first "
                f"{st['primer_len']} notes and continued for as many notes as its real "
                f"continuation (at most {st['max_notes']})"
            )
        else:
            what = (
                f"{pieces.get(name, 0)} pieces of {st['scratch_bars']} bars from the start note "
                f"alone, against {pieces.get('real vs real', 0)} real excerpts of "
                f"{st['scratch_bars']} bars of the {songs} songs"
            )
        md += [
            f"## {KIND_TITLES[kind].capitalize()}: the figures",
            "",
            what + f"; reference: {scored['reference_pieces']} real excerpts.",
            "",
            "### Per instrument (mean ± std over pieces)",
            "",
            "Out of real range: the share of a track's notes outside the 1st-99th percentile "
            "pitch range of the same track in the reference. EB, UPC, QN, DP: MuseGAN's "
            "empty bars, used pitch classes per bar, qualified notes, drum pattern.",
            "",
            track_markdown(scored, report["track_ids"]),
            "",
            "### Distribution overlap per feature (OA ± spread)",
            "",
            overlap_markdown(scored),
            "",
            "### Rhythm and MusPy's metrics",
            "",
            to_markdown(scored["musical"]),
            "",
        ]
    md += [
        "## The paper's cosine similarity (continuations)",
        "",
        'The paper\'s "average cosine similarity", made precise (`metrics.similarity`): the '
        "cosine of note histograms of each continuation and the real one it replaces. It "
        "rewards copying: the repeated primer and the unigram sampler score above another "
        "real song (real vs real), so it cannot rank music; the overlap above can.",
        "",
        similarity_markdown(similarity),
        "",
    ]
    return "\n".join(md)


def write_report(
    report: dict[str, Any], similarity: dict[str, SimilarityResult], out_dir: Path
) -> None:
    """``evaluation.json``, ``evaluation.md``, its curves and ``index.html``, each
    atomically."""
    curves = over_time_plot(
        report["kinds"],
        report["model"],
        {k: t.capitalize() for k, t in KIND_TITLES.items()},
        out_dir / CURVES,
    )
    md = report_markdown(report, similarity, CURVES if curves else None)
    write_json_atomic(out_dir / "evaluation.json", report, indent=2)
    write_bytes_atomic(out_dir / "evaluation.md", md.encode())
    media = [
        Media(
            caption=s["caption"],
            png=out_dir / s["png"] if "png" in s else None,
            audio=out_dir / (s.get("wav") or s["ogg"]) if ("wav" in s or "ogg" in s) else None,
            midi=out_dir / s["mid"] if "mid" in s else None,
            group=KIND_TITLES[s["kind"]].capitalize(),
            pair=f"{s['kind']} {s['index']}",
        )
        for s in report["samples"]
    ]
    title = f"Evaluation of {report['model']}"
    write_page(out_dir / "index.html", title, md, media, page_intro(report))


def page_intro(report: dict[str, Any]) -> str:
    """The top of a listening page: how the audio was made and what to listen for."""
    st, perf = report["settings"], report.get("performance") or {}
    audio = audio_description(st["synth"]) if st.get("audio") else "no audio (audio=false)"
    velocity = ", ".join(f"{k} {v}" for k, v in (perf.get("velocity") or {}).items())
    return "\n".join(
        [
            f"**How it sounds.** {audio}. A continuation plays at its song's tempo up to the "
            "end of its primer, then at the tempo the primer ends on; a real excerpt at its "
            f"own; a piece from scratch at {perf.get('tempo', 120.0):g} qpm "
            f"({perf.get('source', 'the default')}). Drawn notes play at the primer's "
            "median velocity of their track, else the training songs' "
            f"({velocity or 'none stored: 100'}); drum notes are single hits. The pianorolls "
            "of one song share a time axis, so a piece that plays the same notes in fewer "
            "bars looks shorter.",
            "",
            "**What to listen for** (from the tables below):",
            "",
            listening_notes(report),
        ]
    )


def _fmt(mean: float, std: float) -> str:
    return "n/a" if mean is None or math.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def similarity_markdown(rows: dict[str, SimilarityResult]) -> str:
    """The similarity table: one row per model or reference, mean ± std per feature."""
    head = "| row | " + " | ".join(FEATURES) + " | songs |"
    lines = [head, "|" + " --- |" * (len(FEATURES) + 2)]
    for name, res in rows.items():
        cells = [_fmt(res.mean[f], res.std[f]) for f in FEATURES]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {len(res.song_index)} |")
    return "\n".join(lines)
