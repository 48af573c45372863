"""The one benchmark report: every figure beside its baseline, as a ratio from the same run.

``python -m musegen.bench`` collects the ``Row``s each benchmark returns and writes
``bench.json`` (rows and the machine) and ``bench.md`` (a table) into one folder, both
atomically. A ratio is ``baseline / ours`` when lower is better (time, memory) and
``ours / baseline`` when higher is better (throughput), so above 1 always means ours wins.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from musegen.atomic import write_bytes_atomic, write_json_atomic


@dataclass(frozen=True)
class Row:
    """One measured figure and, where there is one, its baseline from the same run."""

    benchmark: str  # data | train | generate | prepare
    measure: str  # what was measured
    unit: str
    ours: float
    ours_label: str
    baseline: float | None = None
    baseline_label: str = ""
    higher_is_better: bool = False
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.ours or not self.baseline:
            return None
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours


def machine() -> dict:
    """What the figures were measured on: CPU, cores, memory, versions, commit, date."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (ValueError, OSError):
        memory_gb = None
    return {
        "cpu": cpu,
        "cores_usable": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "memory_gb": memory_gb,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "system": f"{platform.system()} {platform.release()}",
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _commit() -> str | None:
    """The run records' rule (``run_record.provenance``): ``+dirty`` with uncommitted changes.

    Imported here, not at the top, for weight, not a cycle: run_record imports Lightning,
    and this module is imported by ``bench.prepare``, whose spawned build workers import it
    again; at the top it added about 0.7 GB to the preparation's measured peak."""
    from musegen.run_record import provenance

    commit = provenance()["commit"]
    return None if commit == "unknown" else commit


def _number(x: float | None) -> str:
    if x is None:
        return ""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def markdown(rows: list[Row], info: dict, command: str) -> str:
    lines = [
        "# musegen benchmarks",
        "",
        f"Written by `{command}` on {info['date']} at commit `{info['commit']}`.",
        "",
        f"Machine: {info['cpu']}, {info['cores_usable']} usable cores, {info['memory_gb']} GB "
        f"memory, GPU: {info['gpu'] or 'none'}; {info['system']}, Python {info['python']}, "
        f"torch {info['torch']} ({info['torch_threads']} threads).",
        "",
        "Ratio: baseline / ours for times and memory, ours / baseline for throughput; above 1,"
        " ours is better. Each pair was measured in the same run.",
        "",
        "| benchmark | measure | ours | baseline | unit | ratio | target | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ours = f"{_number(r.ours)} ({r.ours_label})"
        base = f"{_number(r.baseline)} ({r.baseline_label})" if r.baseline is not None else ""
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        lines.append(
            f"| {r.benchmark} | {r.measure} | {ours} | {base} | {r.unit} | {ratio} "
            f"| {r.target} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def write_report(rows: list[Row], out_dir: Path, command: str) -> Path:
    """Write ``bench.json`` and ``bench.md`` into ``out_dir``; return the markdown's path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info = machine()
    payload = {
        "command": command,
        "machine": info,
        "rows": [{**asdict(r), "ratio": r.ratio} for r in rows],
    }
    write_json_atomic(out_dir / "bench.json", payload, indent=2)
    write_bytes_atomic(out_dir / "bench.md", markdown(rows, info, command).encode())
    return out_dir / "bench.md"
