"""Read and write LPD npz files exactly as the dataset ships them.

Two layouts exist and both are read:

* pypianoroll 0.x (how LPD itself was released): ``pianoroll_{i}_csc_{data,indices,indptr,shape}``
  per track, ``tempo``, ``downbeat`` and an ``info.json`` member whose resolution key is
  ``beat_resolution``;
* pypianoroll 1.x (``pypianoroll.save``): the same arrays, ``resolution`` in ``info.json``.

Files are written in the 1.x layout, which ``pypianoroll.load`` reads back. The tracks stay
sparse (``scipy.sparse.csc_matrix``, shape ``(T, 128)``, uint8 velocities): an LPD song is
~99% zeros and the note extraction works on the sparse arrays directly.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from musegen.atomic import atomic_path
from musegen.errors import UserError


class LPDFormatError(UserError):
    """An npz file is not a pypianoroll/LPD file (one line: which file and why)."""


@dataclass
class TrackRoll:
    """One instrument track: a sparse pianoroll of velocities.

    ``roll`` is a ``scipy.sparse.csc_matrix`` of shape ``(T, 128)``; dtype uint8 (velocity)
    or bool (LPD files that store only on/off).
    """

    name: str
    program: int
    is_drum: bool
    roll: sp.csc_matrix


@dataclass
class Song:
    """A multitrack pianoroll song, the in-memory form of one LPD npz file."""

    name: str
    resolution: int
    tracks: list[TrackRoll]
    tempo: np.ndarray | None = None  # shape=(T,), float64, qpm per time step
    downbeat: np.ndarray | None = None  # shape=(T,), bool
    extra: dict = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        """Number of time steps, the longest track's length."""
        return max((t.roll.shape[0] for t in self.tracks), default=0)


def _csc(arrays: dict[str, np.ndarray], prefix: str, path: Path) -> sp.csc_matrix:
    try:
        data = arrays[f"{prefix}_csc_data"]
        indices = arrays[f"{prefix}_csc_indices"]
        indptr = arrays[f"{prefix}_csc_indptr"]
        shape = tuple(int(s) for s in arrays[f"{prefix}_csc_shape"])
    except KeyError as exc:
        raise LPDFormatError(f"{path}: missing array {exc.args[0]!r}") from None
    return sp.csc_matrix((data, indices, indptr), shape=shape)


_NPY_MAGIC = b"\x93NUMPY"
_NPY_HEADER = re.compile(
    rb"'descr':\s*'([^']+)',\s*'fortran_order':\s*(True|False),\s*'shape':\s*\(([^)]*)\)"
)


def _parse_npy(buf: bytes | bytearray) -> np.ndarray:
    """Parse one ``.npy`` member without ``ast.literal_eval`` (numpy's reader spends most of
    an LPD file's load time there); any header this does not recognise goes to numpy."""
    if buf[:6] == _NPY_MAGIC and buf[6] in (1, 2, 3):
        size = 2 if buf[6] == 1 else 4
        start = 8 + size
        end = start + int.from_bytes(buf[8:start], "little")
        match = _NPY_HEADER.search(buf[start:end])
        if match:
            dtype = np.dtype(match.group(1).decode("latin1"))
            if not dtype.hasobject:
                shape = tuple(int(x) for x in match.group(3).split(b",") if x.strip())
                arr = np.frombuffer(buf, dtype=dtype, count=math.prod(shape), offset=end)
                return arr.reshape(shape, order="F" if match.group(2) == b"True" else "C")
    return np.lib.format.read_array(io.BytesIO(buf), allow_pickle=False)


def _read_members(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as zf:
        out = {}
        for name in zf.namelist():
            key = name[:-4] if name.endswith(".npy") else name
            data = bytearray(zf.read(name))  # writable arrays: callers may edit the rolls
            out[key] = np.frombuffer(data, np.uint8) if key == "info.json" else _parse_npy(data)
        return out


def read_lpd_npz(path: str | Path) -> Song:
    """Read an LPD / pypianoroll npz file (either layout) into a ``Song``.

    Raises
    ------
    LPDFormatError
        If the file is not a readable zip, lacks ``info.json`` or a track's arrays.
    """
    path = Path(path)
    try:
        arrays = _read_members(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        # zlib.error: a damaged deflate stream inside an otherwise valid zip
        reason = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LPDFormatError(f"{path}: not a readable npz file ({reason})") from None
    raw_info = arrays.pop("info.json", None)
    if raw_info is None:
        raise LPDFormatError(f"{path}: no info.json, so not an LPD/pypianoroll file")
    try:
        info = json.loads(bytes(raw_info).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LPDFormatError(f"{path}: info.json is not valid JSON ({exc})") from None
    resolution = info.get("resolution", info.get("beat_resolution"))
    if resolution is None:
        raise LPDFormatError(f"{path}: info.json has neither 'resolution' nor 'beat_resolution'")
    tracks = []
    idx = 0
    while str(idx) in info:
        meta = info[str(idx)]
        tracks.append(
            TrackRoll(
                name=str(meta.get("name") or ""),
                program=int(meta.get("program") or 0),
                is_drum=bool(meta.get("is_drum")),
                roll=_csc(arrays, f"pianoroll_{idx}", path),
            )
        )
        idx += 1
    tempo = arrays.get("tempo")
    downbeat = arrays.get("downbeat")
    return Song(
        name=str(info.get("name") or path.stem),
        resolution=int(resolution),
        tracks=tracks,
        tempo=None if tempo is None else np.asarray(tempo, dtype=np.float64).reshape(-1),
        downbeat=None if downbeat is None else np.asarray(downbeat, dtype=bool).reshape(-1),
    )


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
    return buf.getvalue()


def write_lpd_npz(path: str | Path, song: Song, compressed: bool = True) -> Path:
    """Write ``song`` as a pypianoroll-1.x npz file, atomically.

    The file is written under a temporary name in the same folder and renamed into place,
    so an interrupted run never leaves a half-written file that a later run reads as valid.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info: dict = {"resolution": int(song.resolution), "name": song.name}
    members: dict[str, np.ndarray] = {}
    if song.tempo is not None:
        members["tempo"] = np.asarray(song.tempo, dtype=np.float64)
    if song.downbeat is not None:
        members["downbeat"] = np.asarray(song.downbeat, dtype=bool)
    for idx, track in enumerate(song.tracks):
        csc = sp.csc_matrix(track.roll)
        csc.eliminate_zeros()
        csc.sort_indices()
        prefix = f"pianoroll_{idx}_csc"
        members[f"{prefix}_data"] = csc.data
        members[f"{prefix}_indices"] = csc.indices
        members[f"{prefix}_indptr"] = csc.indptr
        members[f"{prefix}_shape"] = np.asarray(csc.shape, dtype=np.int64)
        info[str(idx)] = {
            "program": int(track.program),
            "is_drum": bool(track.is_drum),
            "name": track.name,
        }
    method = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", method) as zf:
        for key, array in members.items():
            zf.writestr(f"{key}.npy", _npy_bytes(array))
        zf.writestr("info.json", json.dumps(info))
    return path
