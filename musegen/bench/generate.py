"""Generation speed, in notes per second: ``python -m musegen.bench.generate``.

Baselines, measured in the same run:
1. incremental decoding (state carried, O(1) per note) against re-running the window at
   every note (the tutorial's approach), at seq_len 25 and 400;
2. 64 pieces decoded as one batch against one piece;
3. chained heads against independent ones, five tracks, at equal size (800k parameters);
4. every backbone at that size against the default one (lstm_gru), 64 pieces and one;
5. the Transformer's key/value cache against re-running the whole context at every note,
   after contexts of 64, 256 and 1,024 notes: the ratio grows with the length (the cache
   costs one position a note, the re-run the whole context);
6. a note as ``experiment=lakh`` draws it now (velocity a field read out last, the keys
   still sounding as an input, drum notes as hits, the pitch drawn given that its note can
   be placed, no restart of a sounding key, semitone clashes at a quarter of their
   probability) against the four-field note drawn plainly, at equal size, and each of those
   parts on its own against the same (``PARTS``);
7. the calls into torch that the note of 6 makes, against the four-field note's: at one
   piece a call's fixed cost outweighs its arithmetic, so the time of 6 follows these
   counts, which move far less between runs than times do (``call_rows``);
8. the note of 6 with its draw (the heads and the decoder's rules) compiled by
   ``torch.compile`` against the same run eagerly, with the compile's time and the graphs
   the draw is split into (``compiled_rows``).
The networks are untrained ``NoteNet``s: speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from unittest import mock

import torch
from omegaconf import OmegaConf

from musegen.bench.report import Row
from musegen.bench.timing import TorchCalls, best_of
from musegen.config_checks import CONFIG_DIR, group_choices
from musegen.generation import decode
from musegen.generation.decode import generate
from musegen.generation.own_music import OwnMusic
from musegen.generation.sampling import DrumHits, Picker, Sampling
from musegen.generation.sounding import SoundingKeys
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.network import NoteNet
from musegen.models.sizing import size_for_budget
from musegen.models.velocity_classes import VelocityClasses

NUM_NOTES = 1000
RULES = ("drums", "keys", "clash", "own")
"""The decoder's rules of ``experiment=lakh``: drum notes as hits, no restart of a sounding
key (which also draws the pitch given that its note can be placed), semitone clashes at a
quarter of their probability (the last needs the second's sounding keys), and the piece's own
music (a silent track enters at 0.1, durations mixed at 0.5 with those the primer's track
plays)."""
OWN = (("track", (("entry", 0.1),)), ("duration", (("cache", 0.5), ("cache_drawn", 0.0))))
"""``experiment=lakh``'s rules of the piece's own music, as ``Sampling.fields``."""
PARTS = (
    ("the velocity field, read out last", {"velocity": 12}, ()),
    ("the keys still sounding, as an input", {"sounding": 32}, ()),
    ("drum notes as hits", {}, ("drums",)),
    ("no restart of a sounding key", {}, ("keys",)),
    ("no restart, and clashes at 0.25", {}, ("keys", "clash")),
    ("the piece's own music (entry 0.1, cache 0.5 of the primer)", {}, ("own",)),
)
"""Each part of the note as ``experiment=lakh`` draws it, on its own: the network's
``_five_track_net`` arguments and the picker's rules (``cost_rows``)."""
NETWORK_NOW = "velocity read out, sounding keys; every field drawn plainly"
NOTE_NOW = (
    "velocity read out, sounding keys, drum hits, no key restarts, clashes, the piece's own music"
)
"""The rows' names of the note's network alone and of the whole note (timed and counted)."""


def _net() -> NoteNet:
    net = NoteNet(
        NoteNetConfig(
            net={
                "_target_": "musegen.models.backbones.LSTMBackbone",
                "hidden_size": 128,
                "num_layers": 1,
                "dropout": 0.0,
            }
        )
    )
    return net.eval()


def _backbone(name: str) -> dict:
    """The backbone as ``conf/model/<name>.yaml`` configures it."""
    return OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "model" / f"{name}.yaml").net)


TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")


def _five_track_net(
    heads: str, backbone: str = "lstm_gru", velocity: int = 0, sounding: int = 0
) -> NoteNet:
    """A backbone on five tracks with categorical timing, sized to 800k; ``velocity``
    classes as a field (0: none), ``sounding`` the width of the sounding-keys input."""
    encoder = {"pitch_dim": 64, "track_dim": 8, "position_dim": 16, "velocity_dim": 8}
    config = NoteNetConfig(
        net={**_backbone(backbone), "dropout": 0.0},
        n_tracks=5,
        track_names=TRACKS,
        encoder={**encoder, "sounding_dim": sounding} if sounding else encoder,
        timing=TimingConfig("categorical"),
        heads=HeadsConfig(heads, width=128, velocity="readout"),
        velocity=VelocityClasses.uniform(velocity) if velocity else None,
    )
    return NoteNet(size_for_budget(config, 800_000)).eval()


def _primer(batch: int, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "pitch": torch.randint(40, 80, (batch, length), generator=g),
        "step": torch.rand(batch, length, generator=g),
        "duration": torch.rand(batch, length, generator=g),
        "track": torch.randint(0, 5, (batch, length), generator=g),
    }


def notes_per_second(
    net: NoteNet,
    batch: int,
    seq_len: int,
    mode: str,
    n: int,
    repeats: int = 3,
    context: int | str | None = "trained",
    drawn_as_now: bool = False,
    rules: tuple[str, ...] = (),
) -> float:
    """Generated notes per second, all pieces of the batch counted (best of ``repeats``).
    ``drawn_as_now``: the picker ``generation.continuation`` builds for ``experiment=lakh``
    (``RULES``: drum hits, no restart of a sounding key, clashes at 0.25, the piece's own
    music), else a plain one with the ``rules`` named (none: every field drawn plainly)."""
    rules = RULES if drawn_as_now else rules
    return batch * n / best_of(_runner(net, batch, seq_len, mode, n, context, rules), repeats).best


def _runner(
    net: NoteNet,
    batch: int,
    seq_len: int,
    mode: str,
    n: int,
    context: int | str | None,
    rules: tuple[str, ...],
) -> Callable[[], None]:
    """One generation of ``n`` notes after a random primer of ``seq_len``, with a fresh
    picker of the ``rules`` named (``notes_per_second``)."""
    primer = _primer(batch, seq_len)
    primer["time"] = torch.cumsum(torch.round(primer["step"] * 24).long(), 1)
    if net.n_tracks == 1:
        primer["track"] = torch.zeros_like(primer["track"])

    def picker() -> Picker:
        if not rules:
            return Picker(Sampling(), torch.Generator().manual_seed(0))
        keys = SoundingKeys(net.tables.step_values, 24, net.n_tracks) if "keys" in rules else None
        drums = DrumHits.of(net) if "drums" in rules else None
        clash = (("pitch", (("clash", 0.25),)),) if "clash" in rules else ()
        rule = Sampling(fields=clash + (OWN if "own" in rules else ()))
        own = OwnMusic.of(net) if "own" in rules else None
        generator = torch.Generator().manual_seed(0)
        return Picker(rule, generator, TRACKS, None, drums, None, keys, own=own)

    def run() -> None:
        generate(net, primer, n, picker(), mode, seq_len, context=context)

    return run


def main(argv: list[str] | None = None) -> None:
    run(argv)


def run(argv: list[str] | None = None) -> list[Row]:
    """Print and return the rows: incremental vs window re-run, batched vs one piece."""
    parser = argparse.ArgumentParser(prog="python -m musegen.bench.generate", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    args = parser.parse_args(argv)
    net = _net()
    print(
        f"generation of {NUM_NOTES} notes, untrained NoteNet LSTM(128), CPU "
        f"({torch.get_num_threads()} threads); best of {args.repeats}"
    )
    rows = []
    for seq_len in (25, 400):
        inc = notes_per_second(net, 1, seq_len, "incremental", NUM_NOTES, args.repeats)
        n_win = NUM_NOTES if seq_len <= 25 else 200  # the baseline is slow; rate is per note
        win = notes_per_second(net, 1, seq_len, "window", n_win, args.repeats)
        print(
            f"  seq_len {seq_len:>3}: incremental {inc:9.0f} notes/s | window re-run "
            f"(baseline) {win:9.0f} notes/s | ratio {inc / win:5.1f}x "
            f"(target >= {2 if seq_len == 25 else 8}x)"
        )
        rows.append(
            Row(
                "generate",
                f"generation, seq_len {seq_len}, one piece",
                "notes/s",
                inc,
                "incremental (state carried)",
                win,
                "window re-run at every note",
                higher_is_better=True,
                target=f">= {2 if seq_len == 25 else 8}x",
            )
        )
    one = notes_per_second(net, 1, 25, "incremental", NUM_NOTES, args.repeats)
    many = notes_per_second(net, 64, 25, "incremental", NUM_NOTES, args.repeats)
    print(
        f"  batch: 64 pieces {many:9.0f} notes/s | 1 piece (baseline) {one:9.0f} notes/s | "
        f"ratio {many / one:5.1f}x (target >= 20x)"
    )
    rows.append(
        Row(
            "generate",
            "generation, seq_len 25, incremental",
            "notes/s",
            many,
            "64 pieces as one batch",
            one,
            "one piece",
            higher_is_better=True,
            target=">= 20x",
        )
    )
    for batch in (1, 64):
        ind = notes_per_second(
            _five_track_net("independent"), batch, 25, "incremental", 400, args.repeats
        )
        ch = notes_per_second(
            _five_track_net("chained"), batch, 25, "incremental", 400, args.repeats
        )
        print(
            f"  heads, batch {batch}: chained {ch:9.0f} notes/s | independent {ind:9.0f} "
            f"notes/s | ratio {ch / ind:5.2f}x"
        )
        rows.append(
            Row(
                "generate",
                f"generation, five tracks, 800k parameters, batch {batch}",
                "notes/s",
                ch,
                "task.heads=chained",
                ind,
                "task.heads=independent",
                higher_is_better=True,
                target=">= 0.8x",
            )
        )
    return (
        rows
        + backbone_rows(args.repeats)
        + cache_rows(args.repeats)
        + note_rows(args.repeats)
        + cost_rows(args.repeats)
        + call_rows()
        + compiled_rows(args.repeats)
    )


def note_rows(repeats: int) -> list[Row]:
    """A note as ``experiment=lakh`` draws it now against the four-field note drawn plainly
    (chained heads, five tracks, 800k parameters, after 25 notes), and its network alone
    (the velocity field and the sounding input, every field drawn plainly): what the
    network costs, and what the decoder's rules add."""
    now = _five_track_net("chained", velocity=12, sounding=32)
    before = _five_track_net("chained")
    rows = []
    for batch in (1, 64):
        ours = notes_per_second(now, batch, 25, "incremental", 400, repeats, drawn_as_now=True)
        net = notes_per_second(now, batch, 25, "incremental", 400, repeats)
        base = notes_per_second(before, batch, 25, "incremental", 400, repeats)
        print(
            f"  note as drawn now, batch {batch}: {ours:9.0f} notes/s | its network, drawn "
            f"plainly {net:9.0f} notes/s | four fields, plain {base:9.0f} notes/s | ratio "
            f"{ours / base:5.2f}x"
        )
        rows.append(
            Row(
                "generate",
                f"generation, five tracks, 800k parameters, batch {batch}: the network of the "
                "note drawn now, without the decoder's rules",
                "notes/s",
                net,
                NETWORK_NOW,
                base,
                "four fields, drawn plainly",
                higher_is_better=True,
            )
        )
        rows.append(
            Row(
                "generate",
                f"generation, five tracks, 800k parameters, batch {batch}: the note drawn now",
                "notes/s",
                ours,
                NOTE_NOW,
                base,
                "four fields, drawn plainly",
                higher_is_better=True,
                target=">= 0.85x",
            )
        )
    return rows


def cost_rows(repeats: int) -> list[Row]:
    """What each part of the note as drawn now costs on its own (``PARTS``), against the
    four fields drawn plainly at equal size: where ``note_rows``' gap comes from."""
    plain = _five_track_net("chained")
    rows = []
    for batch in (1, 64):
        base = notes_per_second(plain, batch, 25, "incremental", 400, repeats)
        for label, net_args, rules in PARTS:
            net = _five_track_net("chained", **net_args) if net_args else plain
            ours = notes_per_second(net, batch, 25, "incremental", 400, repeats, rules=rules)
            print(f"  {label}, batch {batch}: {ours:9.0f} notes/s | plain {base:9.0f} notes/s")
            rows.append(
                Row(
                    "generate",
                    f"generation, five tracks, 800k parameters, batch {batch}: one part of the "
                    "note drawn now",
                    "notes/s",
                    ours,
                    label,
                    base,
                    "four fields, drawn plainly",
                    higher_is_better=True,
                )
            )
    return rows


def backbone_rows(repeats: int) -> list[Row]:
    """Every backbone at 800k parameters, chained heads, five tracks: notes per second."""
    rows = []
    for batch in (1, 64):
        rates = {
            name: notes_per_second(
                _five_track_net("chained", name), batch, 100, "incremental", 200, repeats
            )
            for name in group_choices("model")
        }
        print(
            f"  backbones, batch {batch}: "
            + ", ".join(f"{name} {rate:,.0f}" for name, rate in rates.items())
            + " notes/s"
        )
        rows += [
            Row(
                "generate",
                f"generation, five tracks, 800k parameters, batch {batch}, after 100 notes",
                "notes/s",
                rate,
                f"model={name}",
                rates["lstm_gru"],
                "model=lstm_gru (the default)",
                higher_is_better=True,
            )
            for name, rate in rates.items()
            if name != "lstm_gru"
        ]
    return rows


def cache_rows(repeats: int) -> list[Row]:
    """The Transformer's cache against re-running the context, as the context grows."""
    net = _five_track_net("chained", "transformer")
    rows = []
    for length in (64, 256, 1024):
        cached = notes_per_second(net, 1, length, "incremental", 64, repeats, context=None)
        rerun = notes_per_second(net, 1, length, "window", 64, repeats)
        print(
            f"  transformer after {length:>4} notes: cached {cached:7.0f} notes/s | "
            f"re-run {rerun:7.0f} notes/s | ratio {cached / rerun:5.1f}x"
        )
        rows.append(
            Row(
                "generate",
                f"transformer (800k), 64 notes after a context of {length}, one piece",
                "notes/s",
                cached,
                "key/value cache",
                rerun,
                "re-running the whole context",
                higher_is_better=True,
                note="the ratio grows with the context",
            )
        )
    return rows


def calls_per_note(net: NoteNet, rules: tuple[str, ...] = (), n: int = 400) -> float:
    """Calls into torch (``TorchCalls``) per note of one piece, as ``notes_per_second``
    generates it after 25 notes (the primer's read and the re-reads spread over the notes)."""
    run = _runner(net, 1, 25, "incremental", n, "trained", rules)
    run()  # whatever a first run sets up once is not a note's
    with TorchCalls() as calls:
        run()
    return calls.count / n


def call_rows() -> list[Row]:
    """The calls into torch of a note as ``experiment=lakh`` draws it, of its network alone
    and of each of its parts on its own (``PARTS``), against the four-field note drawn
    plainly (module docstring, 7)."""
    plain = _five_track_net("chained")
    now = _five_track_net("chained", velocity=12, sounding=32)
    base = calls_per_note(plain)
    cases = [(NETWORK_NOW, now, ()), (NOTE_NOW, now, RULES)]
    for label, net_args, rules in PARTS:
        cases.append((label, _five_track_net("chained", **net_args) if net_args else plain, rules))
    rows = []
    for label, net, rules in cases:
        ours = calls_per_note(net, rules)
        print(f"  calls into torch a note: {ours:6.1f} ({label}) | plain {base:6.1f}")
        rows.append(
            Row(
                "generate",
                "calls into torch per note, five tracks, 800k parameters, one piece",
                "calls",
                ours,
                label,
                base,
                "four fields, drawn plainly",
            )
        )
    return rows


def compiled_rows(repeats: int) -> list[Row]:
    """The note as ``experiment=lakh`` draws it, one piece, with ``decode._draw`` (the heads
    and the decoder's rules) compiled by ``torch.compile`` against the same eagerly (module
    docstring, 8); the first run, which compiles, is timed on its own and not counted, and
    the graphs compiled during the timed runs are counted (a recompile would be timed)."""
    net = _five_track_net("chained", velocity=12, sounding=32)
    eager = notes_per_second(net, 1, 25, "incremental", 400, repeats, drawn_as_now=True)
    run = _runner(net, 1, 25, "incremental", 400, "trained", RULES)
    graphs = torch._dynamo.utils.counters["stats"]
    with mock.patch.object(decode, "_draw", torch.compile(decode._draw, dynamic=False)):
        start = time.perf_counter()
        run()
        first = time.perf_counter() - start
        before = graphs["unique_graphs"]
        compiled = 400 / best_of(run, repeats, warmup=0).best
        recompiled = graphs["unique_graphs"] - before  # graphs compiled while timed
    torch._dynamo.reset()
    split = _graphs_of_draw(run)
    print(
        f"  compiled draw: {compiled:9.0f} notes/s | eager {eager:9.0f} | first {first:.0f} s"
        f" | {split} graphs | {recompiled} compiled while timed"
    )
    return [
        Row(
            "generate",
            "generation, five tracks, 800k parameters, batch 1: the note drawn now",
            "notes/s",
            compiled,
            "its draw compiled (torch.compile, default inductor)",
            eager,
            "eager",
            higher_is_better=True,
            note=f"the first run, which compiles, took {first:.0f} s; the tracer splits the "
            f"first note's draw into {split} graphs; {recompiled} graphs compiled in the timed "
            "runs",
        )
    ]


def _graphs_of_draw(run: Callable[[], None]) -> int:
    """The graphs ``torch.compile``'s tracer splits the first note's draw of ``run`` into
    (``torch._dynamo.explain``): one per stretch between two graph breaks."""
    draw, graphs = decode._draw, []

    def first(*args: object) -> dict[str, torch.Tensor]:
        if not graphs:
            graphs.append(torch._dynamo.explain(draw)(*args).graph_count)
        return draw(*args)

    with mock.patch.object(decode, "_draw", first):
        run()
    torch._dynamo.reset()
    return graphs[0]


if __name__ == "__main__":
    main(sys.argv[1:])
