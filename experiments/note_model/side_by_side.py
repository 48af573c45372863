"""Put pianoroll PNGs side by side in one picture, each with its title.

    python experiments/note_model/side_by_side.py OUT.png "TITLE=PATH.png" ...

Made for ``note_model/lakh/side_by_side.png``: the real continuation of the first test song
and the two models' continuations of the same primer, from the comparison's ``listen/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt


def side_by_side(out: Path, panels: list[tuple[str, Path]]) -> Path:
    """Write the PNGs of ``panels`` in one row under their titles to ``out``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(10 * len(panels), 8.5), squeeze=False)
    for ax, (title, png) in zip(axes[0], panels, strict=True):
        ax.imshow(mpimg.imread(png))
        ax.set_title(title, fontsize=18)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=60)
    plt.close(fig)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3 or any("=" not in a for a in sys.argv[2:]):
        sys.exit("usage: side_by_side.py OUT.png TITLE=PATH.png [TITLE=PATH.png ...]")
    pairs = [a.rsplit("=", 1) for a in sys.argv[2:]]
    print(side_by_side(Path(sys.argv[1]), [(t, Path(p)) for t, p in pairs]))
