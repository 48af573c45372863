"""What reaches the ear, measured: the test songs' tempi and the loudness of every committed
listening page's audio.

    python experiments/ear/measure.py experiments/ear/ear.md

Writes the markdown file (and prints it): for the Lakh files and POP909 (``experiment=lakh``'s
and ``compare_pop909``'s data and split), the test songs' median main tempo and the share of
them within 5% of 120 qpm, which every file used to play at; then, for every ``index.html``
under experiments/, the integrated loudness (ITU-R BS.1770-4, pyloudnorm) of each audio file
it plays: the spread around the target. Made for experiments/README.md, "What reaches the
ear".
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile

from musegen.render.audio import LOUDNESS_TARGET_LUFS, integrated_loudness
from musegen.train import compose_config

REPO = Path(__file__).resolve().parents[2]
DATASETS = {
    "Lakh (experiment=lakh)": ["experiment=lakh"],
    "POP909 (experiment=compare_pop909)": ["experiment=compare_pop909"],
}


def test_tempi(overrides: list[str]) -> tuple[int, float, float]:
    """The test songs' count, median main tempo and share within 5% of 120 qpm."""
    from hydra.utils import instantiate

    cfg = compose_config([*overrides, "data.progress=false"], output_dir="/tmp/musegen-ear")
    dm = instantiate(cfg.data, _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    qpm = dm.splits["test"].main_qpm
    return qpm.size, float(np.median(qpm)), float(np.mean(np.abs(qpm / 120 - 1) <= 0.05))


def page_loudness(page: Path) -> list[float]:
    """The integrated loudness of each audio file in ``page``'s folder tree that it links."""
    import re

    values = []
    for link in re.findall(r'<audio[^>]*src="([^"]+)"', page.read_text()):
        data, rate = soundfile.read(str(page.parent / link), dtype="float64")
        values.append(integrated_loudness(data, rate))
    return values


def main(out: Path) -> None:
    lines = [
        "# What reaches the ear, measured",
        "",
        "Written by `python experiments/ear/measure.py experiments/ear/ear.md`.",
        "",
        "| test songs | songs | median tempo (qpm) | within 5% of 120 qpm |",
        "| --- | --- | --- | --- |",
    ]
    for name, overrides in DATASETS.items():
        n, median, near = test_tempi(overrides)
        lines.append(f"| {name} | {n} | {median:.1f} | {near:.0%} |")
    lines += [
        "",
        "Loudness of the audio each committed listening page plays "
        f"(target {LOUDNESS_TARGET_LUFS:g} LUFS):",
        "",
        "| page | audio files | lowest (LUFS) | highest (LUFS) | farthest from the target (dB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for page in sorted((REPO / "experiments").rglob("index.html")):
        values = page_loudness(page)
        if values:
            far = max(abs(v - LOUDNESS_TARGET_LUFS) for v in values)
            lines.append(
                f"| {page.parent.relative_to(REPO).as_posix()} | {len(values)} | "
                f"{min(values):.2f} | {max(values):.2f} | {far:.2f} |"
            )
    text = "\n".join(lines) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
