"""The README's and docs/training.md's tables are written from their files (musegen.docs_tables)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from musegen import docs_tables
from musegen.docs_tables import DATASETS, GROUP_DESCRIPTIONS, REGIONS, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the docs and every source of their tables, its tables brought up to date
    (so that these tests hold while the committed results are being regenerated)."""
    paths = list(docs_tables.DOCS) + [p for r in REGIONS.values() for p, _ in r.sources]
    for rel in dict.fromkeys(paths):
        src, dst = ROOT / rel, tmp_path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy(src, dst)
    assert main(["--root", str(tmp_path)]) == 0
    return tmp_path


def _edit_csv(path: Path, row: str, column: str, value: str) -> None:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    col = rows[0].index(column)
    (line,) = [r for r in rows[1:] if r[0] == row]
    line[col] = value
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def _row(text: str, first_cell: str) -> list[str]:
    """The cells of the one table row of ``text`` that starts with ``first_cell``."""
    (line,) = [x for x in text.splitlines() if x.startswith(f"| {first_cell} |")]
    return [c.strip() for c in line.strip("|").split("|")]


def test_committed_docs_are_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0, capsys.readouterr().err


def test_every_config_group_has_a_description() -> None:
    groups = docs_tables.config_groups(ROOT / "conf")
    assert {"evaluation", "hydra/launcher", "paths", "model"} <= set(groups)
    assert set(groups) == set(GROUP_DESCRIPTIONS)


def test_a_changed_result_makes_its_table_stale(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    _edit_csv(project / DATASETS[1][2], "lstm_gru", "eval/oa_mean", "0.7004")
    assert main(["--check", "--root", str(project)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "README.md: table `comparison` is stale; run `make docs-tables`",
        "experiments/README.md: table `comparison-lakh` is stale; run `make docs-tables`",
    ]
    assert main(["--root", str(project)]) == 0
    readme = (project / "README.md").read_text()
    header, row = _row(readme, "backbone"), _row(readme, "lstm_gru")
    assert row[header.index("Lakh, five tracks: mean OA")].startswith("0.700 ± ")
    text = (project / "experiments/README.md").read_text()
    detail = text.split("comparison-lakh -->")[1].split("<!-- end table -->")[0]
    header, row = _row(detail, "backbone"), _row(detail, "lstm_gru")
    assert row[header.index("continuations: mean OA")].startswith("0.700 ± ")
    assert main(["--check", "--root", str(project)]) == 0


def test_a_new_config_file_makes_both_config_tables_stale(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (project / "conf/model/mamba.yaml").write_text("name: mamba\n")
    assert main(["--check", "--root", str(project)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "README.md: table `config-groups` is stale; run `make docs-tables`",
        "docs/training.md: table `config-groups` is stale; run `make docs-tables`",
    ]
    main(["--root", str(project)])
    choices = _row((project / "docs/training.md").read_text(), "`model`")[1]
    assert choices.startswith("`lstm_gru` (default), ") and "`lstm`, `mamba`, `rnn`" in choices


def test_a_new_group_without_a_description_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (project / "conf/optimizer").mkdir()
    (project / "conf/optimizer/adam.yaml").write_text("lr: 0.001\n")
    before = (project / "README.md").read_text()
    assert main(["--root", str(project)]) == 1
    line = "table `config-groups`: conf/optimizer: no description in musegen.docs_tables."
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"README.md: {line}GROUP_DESCRIPTIONS",
        f"docs/training.md: {line}GROUP_DESCRIPTIONS",
    ]
    assert (project / "README.md").read_text() == before


def test_a_table_edited_by_hand_is_stale(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    readme = project / "README.md"
    text = readme.read_text()
    cell = text.index(" ± ", text.index("<!-- table: note-model -->")) - 1
    digit = str((int(text[cell]) + 1) % 10)  # the last digit of the first row's first mean
    readme.write_text(text[:cell] + digit + text[cell + 1 :])
    assert main(["--check", "--root", str(project)]) == 1
    assert capsys.readouterr().err == (
        "README.md: table `note-model` is stale; run `make docs-tables`\n"
    )
    main(["--root", str(project)])
    assert readme.read_text() == text


def test_a_missing_source_is_one_line_and_leaves_the_table(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (project / DATASETS[2][2]).unlink()
    before = (project / "README.md").read_text()
    assert main(["--root", str(project)]) == 1
    missing = (
        "experiments/results/pop909/comparison.csv is missing (written by `make compare-pop909`)"
    )
    assert capsys.readouterr().err.splitlines() == [
        f"README.md: table `comparison`: {missing}",
        f"experiments/README.md: table `comparison-pop909`: {missing}",
    ]
    assert (project / "README.md").read_text() == before


def test_a_lost_end_marker_is_reported_not_swallowed(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    readme = project / "README.md"
    start = "<!-- table: comparison -->\n"
    text = readme.read_text()
    cut = text.index("<!-- end table -->", text.index(start))
    readme.write_text(text[:cut] + text[cut + len("<!-- end table -->") :])
    before = readme.read_text()
    assert main(["--root", str(project)]) == 1
    assert "README.md: table `comparison` has no <!-- end table -->" in capsys.readouterr().err
    assert readme.read_text() == before  # the evaluation table after it is still there


def test_a_deleted_region_is_reported(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    readme = project / "README.md"
    text = readme.read_text()
    start = text.index("<!-- table: evaluation -->")
    end = text.index("<!-- end table -->", start) + len("<!-- end table -->")
    readme.write_text(text[:start] + text[end:])
    assert main(["--check", "--root", str(project)]) == 1
    assert capsys.readouterr().err == "README.md: no region <!-- table: evaluation -->\n"


NOTE_COLUMNS = [
    "test/note_nll",
    "eval/oa",
    "eval/pitch_mean/Bass",
    "eval/out_of_range/Bass",
    "eval/scale_consistency",
    "eval/pitch_class_entropy",
]


def test_note_model_table_by_hand(tmp_path: Path) -> None:
    """Three seeds of `lakh`, one of `other`: the mean alone for one run, the best NLL
    (lowest) and OA (highest) in bold, bass pitch to one decimal, and a real-vs-real cell
    that differs between rows shown as a range."""
    header = ["experiment", "n_runs", "n_failed"]
    for m in NOTE_COLUMNS:
        header += [f"{m}_mean", f"{m}_std"]
        if m != "test/note_nll":
            header += [f"{m}/real_vs_real_mean", f"{m}/real_vs_real_std"]
    # per metric: mean, std, real mean, real std
    lakh = [
        (7.2254, 0.0833, None, None),
        (0.87901, 0.0107, 0.94, 0.0),
        (39.54, 0.46, 40.97, 0),
        (0.0025, 0.0017, 0.0334, 0),
        (0.9429, 0.0199, 0.9623, 0),
        (2.5371, 0.1672, 2.6066, 0),
    ]
    other = [
        (7.7166, 0.0, None, None),
        (0.75778, 0.0, 0.94, 0.0),
        (55.5, 0.0, 40.97, 0),
        (0.1822, 0.0, 0.0334, 0),
        (0.9616, 0.0, 0.9523, 0),
        (1.8474, 0.0, 2.6066, 0),
    ]

    def row(name: str, n: int, cells: list) -> list:
        out: list = [name, n, 0]
        for mean, std, rmean, rstd in cells:
            out += [mean, std] + ([] if rmean is None else [rmean, rstd])
        return out

    path = tmp_path / docs_tables.NOTE_MODEL
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, row("lakh", 3, lakh), row("other", 1, other)])
    assert docs_tables.note_model_table(tmp_path) == [
        "| row | note NLL | continuations: mean OA | bass: mean pitch | bass: out of range "
        "| scale consistency | pitch-class entropy (bits) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        "| chained heads, 100 notes (`experiment=lakh`) | **7.225 ± 0.083** | **0.879 ± 0.011** "
        "| 39.5 ± 0.5 | 0.003 ± 0.002 | 0.943 ± 0.020 | 2.537 ± 0.167 |",
        "| `experiment=other` | 7.717 | 0.758 | 55.5 | 0.182 | 0.962 | 1.847 |",
        "| *real vs real* |  | 0.940 | 41.0 | 0.033 | 0.952–0.962 | 2.607 |",
    ]


def test_config_table_by_hand(tmp_path: Path) -> None:
    """The default first and marked, ``_`` parts skipped, ``group@package`` and nested
    groups named as Hydra does, an optional group without a default."""
    conf = tmp_path / "conf"
    for rel in (
        "model/rnn",
        "model/gru",
        "model/_part",
        "evaluation/default",
        "experiment/paper",
        "experiment/lakh",
        "hydra/launcher/slurm",
    ):
        (conf / rel).parent.mkdir(parents=True, exist_ok=True)
        (conf / f"{rel}.yaml").write_text("{}\n")
    (conf / "train.yaml").write_text(
        "defaults:\n  - _self_\n  - model: rnn\n  - evaluation@evaluate: default\n"
        "  - experiment: null\n"
    )
    d = GROUP_DESCRIPTIONS
    assert docs_tables.config_table(tmp_path) == [
        "| group | choices | what it sets |",
        "| --- | --- | --- |",
        f"| `model` | `rnn` (default), `gru` | {d['model']} |",
        f"| `evaluation` | `default` (default) | {d['evaluation']} |",
        f"| `experiment` | `lakh`, `paper` | {d['experiment']} |",
        f"| `hydra/launcher` | `slurm` | {d['hydra/launcher']} |",
    ]
