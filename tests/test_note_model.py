"""The note model: chained heads, decoding within the trained context, instrument choice,
old checkpoints, and a note's fields named in one place."""

from __future__ import annotations

import ast
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musegen import fields as F_
from musegen.data.pianoroll_notes import NOTE_DTYPE
from musegen.generation.continuation import DecodeOptions, continue_primers
from musegen.generation.decode import generate
from musegen.generation.notes import model_track_ids
from musegen.generation.sampling import Picker, Sampling, sample
from musegen.models.checkpoint import load_network
from musegen.models.config import HeadsConfig, NoteNetConfig, TimingConfig
from musegen.models.losses import LossWeights, note_losses
from musegen.models.network import NoteNet
from musegen.models.task import load_task
from musegen.models.time_classes import TimeClasses
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"
TRACKS = ("Drums", "Piano", "Guitar", "Bass", "Strings")
GRU = {"_target_": "musegen.models.backbones.GRUBackbone", "hidden_size": 32, "num_layers": 1}


def _net(
    heads: str = "chained",
    order=("step", "track", "pitch", "duration"),
    key_dim: int = 0,
    sounding_dim: int = 0,
    texture_dim: int = 0,
    **kw,
) -> NoteNet:
    torch.manual_seed(0)
    encoder = {"pitch_dim": 8, "track_dim": 4, "position_dim": 4, "key_dim": key_dim}
    if sounding_dim:
        encoder["sounding_dim"] = sounding_dim
    if texture_dim:
        encoder["texture_dim"] = texture_dim
    config = NoteNetConfig(
        GRU,
        n_tracks=5,
        track_names=TRACKS,
        encoder=encoder,
        timing=TimingConfig("categorical", TimeClasses(exact_beats=4, max_beats=8)),
        heads=HeadsConfig(heads, order, 16),
        **kw,
    )
    return NoteNet(config).eval()


def _notes(batch: int = 3, length: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    step = torch.randint(0, 12, (batch, length), generator=g) / 6  # on the grid
    return {
        "pitch": torch.randint(30, 90, (batch, length), generator=g),
        "step": step,
        "duration": torch.randint(1, 24, (batch, length), generator=g) / 12,
        "track": torch.randint(0, 5, (batch, length), generator=g),
        "time": torch.cumsum((step * 24).round().long(), 1),
    }


def test_chained_loss_is_the_sum_of_the_conditional_nlls_by_hand() -> None:
    """Teacher forcing: each head reads the true fields before it; the note NLL is the sum
    of the fields' NLLs, computed here from the heads' parts, outside the module."""
    net = _net()
    heads, tables = net.heads, net.tables
    notes, targets = _notes(), _notes(seed=1)
    h, _ = net.hidden(notes)  # (B, T, H)
    context = heads.project(h)
    expected = {}
    for field in ("step", "track", "pitch", "duration"):
        logits = heads.out[field](F.gelu(context))
        value = targets[field]
        cls = tables.encode(field, value) if field in ("step", "duration") else value
        expected[field] = -logits.log_softmax(-1).gather(-1, cls[..., None]).squeeze(-1).mean()
        if field != "duration":
            context = context + heads.embed[field](cls)
    weights = LossWeights(pitch=1.0)
    losses = note_losses(heads(h, targets), targets, weights, tables=tables)
    for field, nll in expected.items():
        torch.testing.assert_close(losses[f"{field}_loss"], nll)
    torch.testing.assert_close(losses["note_nll"], sum(expected.values()))
    torch.testing.assert_close(losses["loss"], losses["note_nll"])
    # the pitch really depends on the track drawn before it
    other = {**targets, "track": (targets["track"] + 1) % 5}
    assert not torch.allclose(heads(h, other)["pitch"], heads(h, targets)["pitch"])


def test_independent_heads_ignore_the_targets_and_chained_need_them() -> None:
    net = _net("independent")
    h, _ = net.hidden(_notes())
    a, b = net.heads(h, _notes(seed=1)), net.heads(h, None)
    for field in a:
        torch.testing.assert_close(a[field], b[field])
    with pytest.raises(ValueError, match="true fields"):
        _net().heads(h, None)


def test_chained_heads_refuse_regression_timing_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"^task\.heads=chained needs task\.timing=categorical"):
        NoteNetConfig(GRU, heads=HeadsConfig("chained"))
    with pytest.raises(ValueError, match=r"task\.head_order must name each of"):
        HeadsConfig("chained", ("pitch", "pitch", "step", "duration"))


@pytest.mark.parametrize(
    ("order", "key_dim", "sounding_dim", "texture_dim"),
    [
        (("step", "track", "pitch", "duration"), 0, 0, 0),
        (("pitch", "step", "duration", "track"), 0, 0, 0),
        (("track", "pitch", "step", "duration"), 6, 0, 0),
        (("track", "pitch", "step", "duration"), 0, 5, 0),
        (("track", "pitch", "step", "duration"), 0, 0, 4),
        (("step", "track", "pitch", "duration"), 6, 5, 4),
    ],
)
def test_same_seed_same_notes_and_incremental_equals_the_whole_window(
    order, key_dim, sounding_dim, texture_dim
) -> None:
    net = _net(order=order, key_dim=key_dim, sounding_dim=sounding_dim, texture_dim=texture_dim)
    primer = _notes(2, 6)

    def draw(seed: int, mode: str = "incremental", seq_len: int | None = None) -> dict:
        pick = Picker(Sampling(), torch.Generator().manual_seed(seed), TRACKS)
        return generate(net, primer, 24, pick, mode, seq_len, context=None)

    a, b, c = draw(3), draw(3), draw(4)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert not torch.equal(a["pitch"], c["pitch"])
    whole = draw(3, mode="window", seq_len=1000)  # re-reads the whole piece at every note
    for k in ("pitch", "track", "time"):
        torch.testing.assert_close(whole[k], a[k])


def test_decoding_keeps_to_the_trained_context() -> None:
    """After ``context`` notes the network re-reads the last ``context // 2``: it never
    reads more notes at once than training showed it."""
    net = _net(context=10)
    events: list[int] = []  # a fresh read of n notes: n; a step: 0
    hidden, step = net.hidden, net.step

    def spy_hidden(notes: dict, state=None):
        assert state is None  # a re-read starts from a fresh state
        events.append(notes["pitch"].shape[1])
        return hidden(notes, state)

    def spy_step(note: dict, state=None):
        events.append(0)
        return step(note, state)

    net.hidden, net.step = spy_hidden, spy_step
    pick = Picker(Sampling(), torch.Generator().manual_seed(0), TRACKS)
    out = generate(net, _notes(2, 14), 40, pick)
    assert out["pitch"].shape == (2, 40)
    assert events[0] == 10  # a primer longer than the context: its last 10 notes
    assert sorted(set(events[1:])) == [0, 5]  # steps, and re-reads of the last half
    read = 0
    for n in events:
        read = n if n else read + 1
        assert read <= 10  # the state never holds more notes than a training window
    assert len(events) == 40  # one network call a note, steps or re-reads
    # a network stored without a context carries its state through the whole piece
    events.clear()
    net.config = replace(net.config, context=None)
    generate(net, _notes(2, 14), 40, Picker(Sampling(), torch.Generator().manual_seed(0)))
    assert events[0] == 14 and set(events[1:]) == {0}


def test_the_key_input_counts_the_pitched_notes_read_so_far() -> None:
    """The running pitch-class counts leave out drums and the neutral start note, and change
    the network's state only through a pitched note's pitch class."""
    net = _net(key_dim=6)
    assert net.backbone.input_size == net.encoder.out_dim + 6
    pitch = torch.tensor([[0, 60, 36, 64, 72, 67]])  # start note, C, drum kick, E, C, G
    track = torch.tensor([[0, 1, 0, 3, 4, 1]])  # Drums = 0
    counts = net.key.counts(pitch, track)[0]  # (T, 12)
    assert counts.sum(-1).tolist() == [0, 1, 1, 2, 3, 4]
    assert counts[-1].nonzero().flatten().tolist() == [0, 4, 7]  # C, E, G
    assert counts[-1, 0] == 2
    notes = _notes(1, 6)
    notes.update(track=track)

    def after(i: int | None = None, value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The key input and the state after the last note, with note ``i``'s pitch set."""
        changed = pitch.clone()
        if i is not None:
            changed[0, i] = value
        key, _ = net.key(changed, track)
        h, _ = net.hidden({**notes, "pitch": changed})
        return key[0, -1], h[0, -1]

    key, state = after()
    torch.testing.assert_close(after(2, 38)[0], key)  # a drum's "pitch" names an instrument
    torch.testing.assert_close(after(4, 60)[0], key)  # C an octave down: the same class
    changed_key, changed_state = after(4, 61)  # C#: another class
    assert not torch.allclose(changed_key, key)
    assert not torch.allclose(changed_state, state)


def test_the_sounding_input_flags_the_pitched_keys_held_at_each_onset() -> None:
    """Worked by hand at 24 steps a beat: which pitches sound at each note's onset, drums
    and the neutral start note left out, each pitch's latest end kept, a restart of a key
    extending it."""
    net = _net(sounding_dim=5)
    assert net.backbone.input_size == net.encoder.out_dim + 5
    pitch = torch.tensor([[0, 60, 36, 64, 60, 67, 60]])
    track = torch.tensor([[1, 1, 0, 3, 4, 1, 1]])  # Drums = 0
    time = torch.tensor([[0, 0, 12, 24, 30, 48, 96]])
    duration = torch.tensor([[4.0, 2.0, 8.0, 0.5, 0.25, 1.0, 1.0]])  # beats
    ends = net.sounding.ends(pitch, track, time, duration)[0]  # (T, 128)
    # start note (pitch 0): nothing; C4 to 48; the kick (a drum): nothing; E4 24..36;
    # C4 again 30..36 (the earlier end, 48, stays); G4 48..72; C4 96..120
    assert ends[:, 60].tolist() == [-1, 48, 48, 48, 48, 48, 120]
    assert ends[:, 64].tolist() == [-1, -1, -1, 36, 36, 36, 36]
    assert ends[:, 67].tolist() == [-1, -1, -1, -1, -1, 72, 72]
    assert ends[:, 0].tolist() == [-1] * 7 and ends[:, 36].tolist() == [-1] * 7
    on = ends > time[0, :, None]  # (T, 128): what sounds at each onset
    held = [on[i].nonzero().flatten().tolist() for i in range(7)]
    assert held == [[], [60], [60], [60, 64], [60, 64], [67], [60]]
    # what the network reads changes with the sounding set alone: a shorter first C4 ends
    # before the E4 starts, and nothing else about the notes differs
    notes = {"pitch": pitch, "track": track, "time": time, "duration": duration}
    notes.update(step=torch.zeros(1, 7))
    short = {**notes, "duration": duration.clone()}
    short["duration"][0, 1] = 0.5  # C4 0..12
    feature, carried = net.sounding(pitch, track, time, duration)
    feature_short, _ = net.sounding(pitch, track, time, short["duration"])
    assert torch.equal(carried[0], ends[-1])
    torch.testing.assert_close(feature_short[0, 1], feature[0, 1])  # C4 sounds at 0 either way
    assert not torch.allclose(feature_short[0, 3], feature[0, 3])  # at 24: only E4 now


@pytest.mark.parametrize(("target", "stored"), [("all", 25), ("last", None)])
def test_the_task_stores_the_context_its_target_trained(target: str, stored: int | None) -> None:
    """target=all trains every position up to seq_len: generation keeps to seq_len;
    target=last trains after exactly seq_len notes only: generation carries the state."""
    from musegen.models.task import NextNoteTask

    task = NextNoteTask(net=dict(GRU), target=target, context=25)
    assert task.net.config.context == stored


def test_a_masked_track_is_never_drawn_and_per_track_rules_apply() -> None:
    net = _net()
    primer = _notes(4, 6)
    pick = Picker(Sampling(), torch.Generator().manual_seed(0), TRACKS, allowed=["Drums", "Bass"])
    out = generate(net, primer, 200, pick)
    assert set(out["track"].unique().tolist()) <= {0, 3}
    assert set(out["track"].unique().tolist()) == {0, 3}  # both are drawn
    # a track's rule: rows of that track drawn colder; the others as without the rule
    logits = torch.randn(6, 9, generator=torch.Generator().manual_seed(1))
    drawn = {"track": torch.tensor([0, 3, 0, 3, 1, 3])}
    rules = Sampling(tracks=(("Bass", (("temperature", 1e-4),)),))
    got = Picker(rules, torch.Generator().manual_seed(2), TRACKS)("pitch", logits, drawn)
    plain = sample(logits, Sampling(), torch.Generator().manual_seed(2))
    bass = drawn["track"] == 3
    assert torch.equal(got[bass], logits[bass].argmax(-1))
    assert torch.equal(got[~bass], plain[~bass])  # one uniform number a row, whatever the rule
    # a field's own rule wins over the track's
    layered = Sampling(fields=(("pitch", (("top_k", 1),)),), tracks=(("Bass", (("top_k", 5),)),))
    assert layered.rule("pitch", "Bass").top_k == 1 and layered.rule("step", "Bass").top_k == 5


def _old_reference() -> dict:
    return json.loads((FIXTURES / "generated_before_issue20.json").read_text())


@pytest.mark.parametrize(
    "name",
    ["format1_regression_lstm_piano", "format2_categorical_gru_5tracks", "format1_no_names_lstm"],
)
def test_checkpoints_written_before_load_generate_and_score(name: str) -> None:
    path = FIXTURES / f"{name}.ckpt"
    net = load_network(path)
    assert net.config.heads.kind == "independent" and net.config.context is None
    ids = model_track_ids(net.config.track_names)
    primers = [np.empty(0, dtype=NOTE_DTYPE)] * 2
    as_drawn = continue_primers(net, primers, 16, ids, DecodeOptions(seed=3, drum_hits=False))
    got = [
        {k: n[k].tolist() for k in ("time", "pitch", "step", "duration", "track")} for n in as_drawn
    ]
    reference = _old_reference()
    if name in reference:  # the very notes the code before the change drew
        assert got == reference[name]
    # with the drum rule, each piece is the same up to its first drum note, which is a hit
    hits = continue_primers(net, primers, 16, ids, DecodeOptions(seed=3))
    for old, new in zip(as_drawn, hits, strict=True):
        drums = np.flatnonzero(new["track"] == 0)
        first = int(drums[0]) + 1 if drums.size else len(new)
        assert np.array_equal(old[:first]["pitch"], new[:first]["pitch"])
        assert np.all(new["duration"][drums] == np.float32(1 / 24))
        if 0 in ids:
            assert (old["track"] == 0).any() and (old["duration"][old["track"] == 0] > 1 / 24).any()
    task = load_task(path)
    batch = {k: v[:, :9] for k, v in _notes(2, 9).items()}
    if net.n_tracks == 1:
        batch["track"] = torch.zeros_like(batch["track"])
    losses, n = task._losses(batch, "all")
    assert n == 16 and torch.isfinite(losses["loss"])


def test_a_notes_fields_are_named_in_one_module() -> None:
    from musegen.data import windows
    from musegen.generation import decode, sampling
    from musegen.models import losses, objective, time_classes

    assert losses.COMPONENTS is F_.PREDICTED_FIELDS
    assert sampling.SAMPLED_FIELDS is F_.PREDICTED_FIELDS
    assert decode.FIELDS is F_.INPUT_FIELDS and time_classes.FIELDS is F_.TIME_FIELDS
    assert tuple(windows.FEATURES) == F_.BATCH_COLUMNS
    assert objective.PREDICTED_FIELDS is F_.PREDICTED_FIELDS
    # nowhere else in the package is the list of a note's fields written out (an order of
    # them, such as the chained heads' default, is a setting, not the list)
    for path in (ROOT / "musegen").rglob("*.py"):
        if path.name == "fields.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Tuple | ast.List):
                values = tuple(e.value for e in node.elts if isinstance(e, ast.Constant))
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                assert values[:4] != F_.NOTE_FIELDS and values != F_.INPUT_FIELDS, where


@pytest.mark.parametrize(
    ("name", "tracks"),
    [("format1_regression_lstm_piano", ["Piano"]), ("format2_categorical_gru_5tracks", TRACKS)],
)
def test_checkpoints_written_before_evaluate_on_real_songs(
    name: str, tracks, lmd_lpd5: Path, tmp_path: Path
) -> None:
    from musegen.data.datamodule import NoteDataModule
    from musegen.evaluation.report import EvaluationSettings, evaluate_songs

    net = load_network(FIXTURES / f"{name}.ckpt")
    dm = NoteDataModule(
        source="lpd5",
        root=str(lmd_lpd5),
        data_dir=str(tmp_path / "data"),
        tracks=list(tracks),
        max_songs=40,
        progress=False,
        build_workers=1,
    )
    dm.prepare_data()
    dm.setup("test")
    settings = EvaluationSettings(
        max_songs=4,
        max_notes=32,
        scratch_samples=4,
        scratch_bars=2,
        reference_samples=8,
        num_samples=0,
        audio=False,
    )
    report = evaluate_songs(net, model_track_ids(net.config.track_names), dm, tmp_path, settings)
    oa = report["kinds"]["continuation"]["overlap"]["model"]["mean"]["oa"]
    assert 0.0 <= oa <= 1.0 and (tmp_path / "evaluation.md").is_file()


@pytest.mark.slow  # ~10 s: a CLI round trip (the mask by hand: test_a_masked_track_is_never_drawn)
def test_generate_writes_only_the_chosen_tracks(tmp_path: Path) -> None:
    """``python -m musegen.generate tracks=[Drums,Bass]`` on a five-track checkpoint: notes
    on those tracks only, from scratch; an unknown track is one line naming the model's."""
    from tests.conftest import run_cli

    ckpt = FIXTURES / "format2_categorical_gru_5tracks.ckpt"
    out = tmp_path / "out"
    done = run_cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        "primer=none",
        "tracks=[Drums,Bass]",
        "num_samples=3",
        "num_notes=120",
        "audio=false",
        f"out_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from musegen.data.lpd_io import read_lpd_npz
    from musegen.data.pianoroll_notes import song_to_notes

    seen = set()
    for i in range(3):
        notes = song_to_notes(read_lpd_npz(out / f"sample_{i:03d}.npz"))
        seen |= set(np.unique(notes["track"]).tolist())
    assert seen == {0, 3}  # Drums and Bass (LPD-5 ids), both drawn, nothing else
    bad = run_cli(
        "musegen.generate",
        f"ckpt_path={ckpt}",
        "primer=none",
        "tracks=[Drums,Kazoo]",
        f"out_dir={tmp_path / 'bad'}",
        f"hydra.run.dir={tmp_path / 'run2'}",
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: tracks: Kazoo is not a track of this model; "
        "its tracks are [Drums, Piano, Guitar, Bass, Strings]"
    )


def test_a_mask_after_a_pitch_first_head_draws_the_pitch_given_an_allowed_track() -> None:
    """Pitch first, then the track: with only the bass allowed, the pitch is drawn from
    p(pitch) P(bass | pitch), computed here from the heads' parts; a cold draw is its argmax."""
    net = _net(order=("pitch", "track", "step", "duration"))
    heads = net.heads
    h, _ = net.hidden(_notes(4, 5))
    h = h[:, -1]  # (B, H)
    context = heads.project(h)
    pitch = heads.out["pitch"](F.gelu(context)).log_softmax(-1)  # (B, 128)
    every = context[:, None] + heads.embed["pitch"].weight  # (B, 128, W)
    bass = heads.out["track"](F.gelu(every)).log_softmax(-1)[..., 3]  # (B, 128)
    expected = (pitch + bass).argmax(-1)
    cold = Sampling(temperature=1e-4)
    pick = Picker(cold, torch.Generator().manual_seed(0), TRACKS, allowed=["Bass"])
    note = heads.draw(h, pick)
    assert torch.equal(note["track"], torch.full((4,), 3))
    assert torch.equal(note["pitch"], expected)
    unmasked = heads.draw(h, Picker(cold, torch.Generator().manual_seed(0), TRACKS))
    assert not torch.equal(unmasked["pitch"], expected)  # the mask changed the pitch drawn


def test_a_track_rule_changes_only_its_tracks_notes_with_independent_heads() -> None:
    """The independent heads draw the track before the pitch only where a per-track rule
    asks, with the random numbers of their usual order: a rule of temperature 1 (no change)
    draws the very notes of no rule, and a colder Bass first changes a Bass note."""
    net = load_network(FIXTURES / "format2_categorical_gru_5tracks.ckpt")
    assert net.config.heads.kind == "independent"
    ids = model_track_ids(net.config.track_names)
    primers = [np.empty(0, dtype=NOTE_DTYPE)] * 4

    def draw(**rules: dict) -> list[np.ndarray]:
        options = DecodeOptions(seed=3, sampling=Sampling.from_config(rules))
        return continue_primers(net, primers, 48, ids, options)

    plain = draw()
    assert [n.tolist() for n in draw(tracks={"Bass": {"temperature": 1.0}})] == [
        n.tolist() for n in plain
    ]
    cold = draw(tracks={"Bass": {"temperature": 0.2}})
    changed = 0
    for old, new in zip(plain, cold, strict=True):
        differ = np.flatnonzero(old != new)
        if differ.size:  # the first note that differs is a Bass note (LPD-5 track 3)
            changed += 1
            assert old["track"][differ[0]] == new["track"][differ[0]] == 3
    assert 3 in ids and changed > 0


def test_reading_in_chunks_with_the_state_equals_reading_at_once() -> None:
    """A window read as 4 notes and then 6 with the state between (the task's forward with
    a state) gives the backbone the same inputs as reading all 10: the sounding keys and the
    key's counts carry over, whether the second chunk is one note or several."""
    net = _net(key_dim=6, sounding_dim=5, texture_dim=4)
    notes = _notes(2, 10)
    notes["pitch"][:, 3] = 60  # held across the cut: a long C4 in note 4
    notes["duration"][:, 3] = 8.0
    whole, _ = net.hidden(notes)
    first, state = net.hidden({k: v[:, :4] for k, v in notes.items()})
    rest, _ = net.hidden({k: v[:, 4:] for k, v in notes.items()}, state)
    torch.testing.assert_close(torch.cat([first, rest], 1), whole)
    _, state = net.hidden({k: v[:, :9] for k, v in notes.items()})
    last, _ = net.hidden({k: v[:, 9:] for k, v in notes.items()}, state)
    torch.testing.assert_close(last[:, 0], whole[:, -1])
    # one note from a fresh state, then the rest; eight notes, then two with the state
    for cut in (1, 8):
        head, state = net.hidden({k: v[:, :cut] for k, v in notes.items()})
        tail, _ = net.hidden({k: v[:, cut:] for k, v in notes.items()}, state)
        torch.testing.assert_close(torch.cat([head, tail], 1), whole)
    # the carried ends matter: without them the second chunk reads other inputs
    cut, _ = net.hidden({k: v[:, 4:] for k, v in notes.items()}, (state[0], (None, None, None)))
    assert not torch.allclose(cut, whole[:, 4:])


def test_the_sounding_feature_is_the_projection_of_the_held_keys() -> None:
    """The network reads ``proj`` of the 0/1 flags of the keys held at each onset: a key
    ending exactly at an onset no longer sounds there; a pitch of 1 is a key (only 0, the
    start note, is not); without a drum track every note counts."""
    from musegen.models.sounding_context import SoundingContext

    context = SoundingContext(3, 24)  # no drum track
    pitch = torch.tensor([[0, 1, 60, 64]])
    track = torch.tensor([[0, 0, 0, 1]])
    time = torch.tensor([[0, 0, 0, 48]])
    duration = torch.tensor([[1.0, 4.0, 2.0, 1.0]])  # the C4 ends at 48, as the E4 starts
    feature, ends = context(pitch, track, time, duration)
    flags = torch.zeros(1, 4, 128)
    flags[0, 1, 1] = 1  # C#-1 from 0 to 96
    flags[0, 2, [1, 60]] = 1
    flags[0, 3, [1, 64]] = 1  # at 48: C#-1 and E4, not the C4 that ends there
    torch.testing.assert_close(feature, context.proj(flags))
    assert ends[0, [0, 1, 60, 64]].tolist() == [-1.0, 96.0, 48.0, 72.0]
    with pytest.raises(ValueError, match=r"^task\.encoder\.sounding_dim must be an integer >= 1"):
        SoundingContext(0, 24)
    assert SoundingContext(1, 24).proj.out_features == 1
    from musegen.models.heads import make_heads

    nested = replace(_net().config, heads=HeadsConfig("nested"))
    with pytest.raises(ValueError) as info:
        make_heads(nested, 16, None)
    assert str(info.value) == "task.heads: 'nested' is not one of ['independent', 'chained']"


def test_the_key_input_and_the_loss_weights_name_their_settings() -> None:
    from musegen.models.key_context import PitchClassContext

    with pytest.raises(ValueError) as info:
        PitchClassContext(0)
    assert str(info.value) == "task.encoder.key_dim must be an integer >= 1, got 0"
    assert PitchClassContext(1).proj.out_features == 1
    # a pitch of 1 is a key; without a drum track every note counts
    counts = PitchClassContext(2).counts(torch.tensor([[0, 1, 13]]), torch.tensor([[0, 0, 0]]))
    assert counts[0, -1, 1].item() == 2 and counts[0, -1].sum().item() == 2
    with pytest.raises(ValueError) as info:
        LossWeights.from_mapping({"pitch": -1})
    assert str(info.value) == "task.loss_weights.pitch must be a number >= 0, got -1"
