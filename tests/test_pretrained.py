"""The trained models that come with the package: loaded by name, they generate, and their
shipped weights give the note NLL their card records; fine-tuning starts from them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from musegen import pretrained
from musegen.checks import ConfigError
from musegen.config_checks import compose_checked
from musegen.generate import run_generation
from musegen.generation.sampling import Sampling
from musegen.models.checkpoint import CheckpointError, load_network
from musegen.pretrained.export import export_run, note_nll
from tests.conftest import ROOT, SHARED_DATA, run_cli, small

LMD = SHARED_DATA / "lmd_midi"
SONGS = {"bach": ROOT / "musegen" / "demo", "lakh": LMD, "lakh_v1": LMD, "lakh_accompany": LMD}


def test_the_models_are_listed_with_their_cards() -> None:
    assert {"bach", "lakh", "lakh_accompany", "lakh_v1", "pop909"} <= set(pretrained.names())
    for name in pretrained.names():
        card = pretrained.card(name)
        assert (pretrained.FOLDER / f"{name}.md").is_file() and card["licence"]
        assert card["command"].startswith("python -m musegen.train") and card["commit"]
        size = (pretrained.FOLDER / f"{name}.ckpt").stat().st_size
        assert size <= 5e6 and card["size_mb"] == pytest.approx(size / 1e6)
    done = run_cli("musegen.pretrained")
    assert done.returncode == 0 and all(
        f"pretrained:{n}" in done.stdout for n in pretrained.names()
    )


@pytest.mark.parametrize("name", pretrained.names())
def test_a_shipped_model_generates_and_gives_its_cards_note_nll(name: str, tmp_path: Path) -> None:
    card = pretrained.card(name)
    folder = SONGS.get(name, SHARED_DATA / name)
    songs = [folder / s for s in card["check"]["songs"]]
    if not all(s.is_file() for s in songs):
        pytest.skip(f"needs {folder} (the check songs of pretrained:{name})")
    path = pretrained.resolve(f"pretrained:{name}")
    net = load_network(path)
    assert all(p.dtype == torch.float32 for p in net.parameters())  # half in the file only
    assert note_nll(path, songs) == pytest.approx(card["check"]["note_nll"], abs=1e-4)
    args = [f"ckpt_path=pretrained:{name}", f"out_dir={tmp_path}", "primer=none",
            "num_samples=1", "num_notes=16", "audio=false"]  # fmt: skip
    summary = run_generation(compose_checked("generate", args), args)
    assert summary["settings_from"]["sampling"] == "run"  # the card's run's own sampling
    assert (tmp_path / "sample_000.mid").is_file() and summary["samples"][0]["notes"] > 0


def test_an_unknown_name_is_one_line_that_lists_the_names(tmp_path: Path) -> None:
    with pytest.raises(
        pretrained.PretrainedError,
        match=r"^ckpt_path: no pretrained model 'nope'; the models: pretrained:bach",
    ):
        pretrained.resolve("pretrained:nope")
    done = run_cli("musegen.generate", "ckpt_path=pretrained:nope", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no pretrained model 'nope'; the models: pretrained:bach" in done.stderr


def test_fine_tuning_starts_a_new_run_from_trained_weights(
    lakh_run: Path, session_data_dir: Path, lmd_lpd5: Path, tmp_path: Path
) -> None:
    """The same network on the same data at a learning rate of 1e-12: the new run ends with
    the weights it started from (to 1e-9; a fresh network differs by about 0.1), in a run of
    its own (step 1, not the old run's steps)."""
    from musegen.train import compose_config
    from musegen.training import train
    from tests.conftest import LAKH_TRACKS

    start = lakh_run / "checkpoints" / "last.ckpt"
    base = small(
        session_data_dir,
        "data=lpd5",
        f"data.root={lmd_lpd5}",
        "data.max_songs=12",
        f"data.tracks=[{','.join(LAKH_TRACKS)}]",
        "task.velocity_classes=6",
        "evaluate.enabled=false",
        "test=false",
        f"init_from={start}",
    )
    cfg = compose_config(
        [*base, "task.optimizer.lr=1e-12", "trainer.limit_train_batches=1"], str(tmp_path / "tuned")
    )
    metrics = train(cfg)
    assert metrics["global_step"] == 1  # a new run, not the resumed one's count
    before, after = (
        load_network(start),
        load_network(tmp_path / "tuned" / "checkpoints" / "last.ckpt"),
    )
    for (k, a), b in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-9), k
    wrong = compose_config([*base, "model.net.hidden_size=48"], str(tmp_path / "wrong"))
    with pytest.raises(
        CheckpointError,
        match=r"^init_from: .* was trained with model\.net\.hidden_size=32, this run has 48$",
    ):
        train(wrong)
    with pytest.raises(pretrained.PretrainedError, match="init_from: no pretrained model"):
        train(compose_config([*base[:-1], "init_from=pretrained:nope"], str(tmp_path / "x")))


def test_export_ships_the_sampling_chosen_after_the_run(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--sampling`` settings join the run's own in the shipped config, which generation
    then takes as the model's defaults; the card names them and where they were chosen. A
    misspelt one, or one without its source, stops before anything is written."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    folder = tmp_path / "shipped"
    folder.mkdir()
    settings = ["pitch.harmony=0.6", "tracks.Piano.duration.temperature=1.5"]
    source = "on the validation songs (experiments/x)"
    out = export_run(run, "mine", "40 chorales", "MIT", folder=folder, sampling=settings,
                     sampling_source=source)  # fmt: skip
    shipped = OmegaConf.load(folder / "mine.yaml").sampling
    own = OmegaConf.load(run / ".hydra" / "config.yaml").sampling
    assert shipped.pitch.harmony == 0.6 and own.pitch.get("harmony") != 0.6
    assert shipped.tracks.Piano.duration.temperature == 1.5
    assert shipped.pitch.temperature == own.pitch.temperature  # the run's own stay
    card = json.loads((folder / "mine.json").read_text())
    assert card["sampling_after_training"] == {
        "settings": {"pitch.harmony": 0.6, "tracks.Piano.duration.temperature": 1.5},
        "source": source,
    }
    assert (
        "- **Sampling chosen after training** (what generate and evaluate use by default, on "
        "top of the run's own): `pitch.harmony=0.6`, `tracks.Piano.duration.temperature=1.5`; "
        "on the validation songs (experiments/x)."
    ) in (folder / "mine.md").read_text()
    monkeypatch.setattr(pretrained, "FOLDER", folder)  # shipped here, loaded by name
    args = ["ckpt_path=pretrained:mine", f"out_dir={tmp_path / 'gen'}", "primer=none",
            "num_samples=1", "num_notes=8", "audio=false"]  # fmt: skip
    summary = run_generation(compose_checked("generate", args), args)
    assert summary["settings_from"]["sampling"] == "run" and out == folder / "mine.ckpt"
    assert summary["sampling"]["pitch"]["harmony"] == 0.6
    assert summary["sampling"]["tracks"]["Piano"]["duration"]["temperature"] == 1.5
    for bad, message in [
        (["pitch.harmonyy=0.6"], r"^sampling\.pitch\.harmonyy: no such sampling setting"),
        (["harmony"], r"^--sampling: 'harmony' is not KEY=VALUE with KEY under sampling"),
        (["sampling.pitch.harmony=0.6"], r"^--sampling: 'sampling\.pitch\.harmony=0\.6' is not"),
        (["pitch.harmony=2"], r"^sampling\.pitch\.harmony must be a number in \[0, 1\]"),
    ]:
        with pytest.raises(ConfigError, match=message):
            export_run(run, "bad", "d", "l", folder=folder, sampling=bad, sampling_source="s")
    with pytest.raises(ConfigError, match=r"^--sampling needs --sampling-source"):
        export_run(run, "bad", "d", "l", folder=folder, sampling=settings)
    done = run_cli("musegen.pretrained", "export", str(run), "bad", "--data", "d", "--licence",
                   "l", "--sampling", "pitch.harmonyy=0.6", "--sampling-source", "s")  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "sampling.pitch.harmonyy: no such sampling setting" in done.stderr
    assert not list((ROOT / "musegen" / "pretrained").glob("bad.*"))  # nothing shipped
    assert sorted(p.name for p in folder.iterdir()) == ["mine.ckpt", "mine.json", "mine.md",
                                                        "mine.yaml"]  # fmt: skip


APPLIES = {
    "pitch": ("temperature", "top_k", "top_p", "clash", "harmony", "root"),
    "step": ("temperature", "top_k", "top_p", "buckets", "on_kept"),
    "duration": ("temperature", "top_k", "top_p", "buckets", "cache", "cache_drawn"),
    "track": ("temperature", "top_k", "top_p", "entry"),
    "velocity": ("temperature", "top_k", "top_p"),
}
"""The settings that act on each field's draw: a setting of another field is left out (the
top level's ``clash`` reaches the step's rule too, where it does nothing)."""
KEPT = ("harmony", "root", "on_kept")
"""The settings that read an accompaniment's kept music: nothing in a continuation."""


def _draw(sampling: Sampling, accompanies: bool) -> dict[tuple[str, str, str | None], tuple]:
    """What each field is drawn with, per track, in continuations and (a model of several
    tracks) accompaniments; ``cache_drawn`` only where a cache is read."""
    out = {}
    uses = [("continuation", sampling)]
    if accompanies:
        uses.append(("accompaniment", sampling.for_accompaniment()))
    for who, rules in uses:
        for field, names in APPLIES.items():
            for track in (None, "Drums", "Piano", "Guitar", "Bass", "Strings"):
                rule = rules.rule(field, track) if track else rules.rule(field)
                keep = [n for n in names if n != "cache_drawn" or rule.cache > 0]
                keep = [n for n in keep if n not in KEPT or who == "accompaniment"]
                out[(who, field, track)] = tuple(getattr(rule, n) for n in keep)
    return out


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("bach", []),
        ("lakh", ["experiment=lakh"]),
        ("lakh_accompany", ["experiment=lakh_accompany"]),
        ("pop909", ["experiment=pop909"]),
    ],
)
def test_a_shipped_model_draws_as_its_experiment_does(name: str, overrides: list[str]) -> None:
    """Every note a shipped model draws by default is drawn with the rules its experiment
    composes today, field by field and track by track (``lakh_v1``, the model of an earlier
    round, is left as it shipped; POP909's one track has nothing to accompany)."""
    shipped = OmegaConf.load(pretrained.FOLDER / f"{name}.yaml")
    composed = compose_checked("train", overrides)
    accompanies = len(composed.data.get("tracks") or [None, None]) > 1
    assert _draw(Sampling.from_config(shipped.sampling), accompanies) == _draw(
        Sampling.from_config(composed.sampling), accompanies
    )
