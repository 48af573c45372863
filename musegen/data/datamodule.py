"""The LightningDataModule: a configured source -> cached note splits -> window batches.

Songs are split by a hash of their id (``splits``), never by window; validation is held
out of the paper's 80% training part (default 70/10/20). ``prepare_data`` (one process)
converts and caches; ``setup`` (every process) only maps the cached files.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from musegen.checks import at_least, check, integer, number, one_of, optional
from musegen.data.batches import EpochOrder, ShardedBatches
from musegen.data.genres import genre_ids
from musegen.data.note_cache import NoteSplit, cache_key, open_or_build
from musegen.data.note_timing import RESOLUTION, model_track_lut
from musegen.data.performance import Performance, velocity_counts
from musegen.data.sources import SOURCES, DataSourceError, SongFile, resolve_songs
from musegen.data.splits import SPLITS, check_fractions
from musegen.data.streams import StreamBatches
from musegen.data.tracks import LPD5_TRACKS, track_ids
from musegen.data.windows import EpochIndices, NoteWindows, SongWindows, collate_batch
from musegen.errors import STOP_SIGNALS

log = logging.getLogger(__name__)

TEST_PASSES = ("song", "window")
CHUNK = 1 << 22
"""Notes per chunk when a split's memory-mapped columns are counted (bounded memory)."""


class NoteDataModule(L.LightningDataModule):
    """Batches of note windows from LPD-5 songs (Bach chorales, LPD-5 or any MIDI folder).

    Each batch is a dict of tensors of shape ``(batch_size, seq_len + 1)``: ``pitch`` (int64),
    ``step`` and ``duration`` (float32, beats), ``velocity`` (int64) and ``track`` (int64, an
    index into ``track_names``). The model reads the first ``seq_len`` notes and predicts
    the next.

    Parameters
    ----------
    source : {"bach", "lpd5", "midi"}
        Where songs come from; ``root`` is the LPD-5 tree or MIDI folder for the last two.
    data_dir : path
        Where built datasets and the note cache live.
    tracks : list of str
        LPD-5 tracks to model (all five by default; ``[Piano]`` as in the paper).
    seq_len : int
        Notes the model sees before predicting the next (paper: 25).
    split : [train, val, test] or str
        Song fractions (default 0.7/0.1/0.2: the paper's 80/20 with val held out of train),
        or ``"test"``: every song is a test song (scoring a model on a held-out folder).
    max_songs : int, optional
        Use only the first ``max_songs`` songs (sorted by file): quick experiments and tests.
    genres, labels, label_source
        Keep only songs that LPD's ``label_source`` lists under one of ``genres``.
    window_stride, eval_stride : int
        Hop between training windows, and between val/test windows of the ``window`` pass
        (default: same).
    test_pass : {"song", "window"}
        How validation and test score a song. ``song``: every note once, in windows of
        ``seq_len`` notes that re-read ``eval_context`` notes each (``SongWindows``: about 2
        network steps per scored note). ``window``: TensorFlow's tutorial's, whose losses the
        paper reports: every window of ``seq_len`` notes, the note after it scored
        (``seq_len`` steps per scored note).
    eval_context : int, optional
        Notes of context each ``song`` window re-reads before the notes it scores (default
        ``seq_len // 2``).
    seed : int, optional
        Seeds the training order of every epoch (``musegen.data.batches``); None: a random
        seed drawn from torch's generator (which ``seed_everything`` seeds).
    stream : bool
        Each training batch's rows run through whole songs window after window, the task
        carrying the network's state across batches (``musegen.data.streams``); False: every
        window drawn at random, from a fresh state.
    ahead : float
        Share of the training windows that keep some tracks and carry the next kept note
        after each note (``musegen.data.ahead``: training for accompaniment); 0: none.

    Under DDP each rank takes its slice of every global batch of ``batch_size x world_size``
    training windows (``ShardedBatches``), so the trainer needs
    ``use_distributed_sampler=False`` (``conf/trainer/default.yaml``); validation and test
    run whole on every rank, so their metrics are exact, with no padded duplicates.
    """

    def __init__(
        self,
        source: str = "bach",
        root: str | None = None,
        data_dir: str = "data",
        tracks: Sequence[str] = LPD5_TRACKS,
        seq_len: int = 25,
        batch_size: int = 315,
        num_workers: int = 0,
        split: Sequence[float] | str = (0.7, 0.1, 0.2),
        max_songs: int | None = None,
        genres: Sequence[str] | None = None,
        labels: str | None = None,
        label_source: str = "tagtraum",
        window_stride: int = 1,
        eval_stride: int | None = None,
        resolution: int = RESOLUTION,
        transpose: int = 0,
        build_workers: int | None = None,
        pin_memory: bool = False,
        progress: bool = True,
        seed: int | None = None,
        test_pass: str = "song",
        eval_context: int | None = None,
        stream: bool = False,
        ahead: float = 0.0,
    ) -> None:
        super().__init__()
        check(source, "data.source", one_of(SOURCES), f"one of {', '.join(SOURCES)}")
        for key, value, low in (
            ("seq_len", seq_len, 1),
            ("batch_size", batch_size, 1),
            ("num_workers", num_workers, 0),
            ("window_stride", window_stride, 1),
            ("resolution", resolution, 1),
        ):
            at_least(value, f"data.{key}", low)
        check(test_pass, "data.test_pass", one_of(TEST_PASSES), f"one of {', '.join(TEST_PASSES)}")
        self.test_pass = test_pass
        self.eval_context = seq_len // 2 if eval_context is None else eval_context
        check(
            self.eval_context,
            "data.eval_context",
            integer(0, seq_len - 1),
            f"an integer in [0, data.seq_len={seq_len})",
        )
        check(eval_stride, "data.eval_stride", optional(integer(1)), "an integer >= 1 or null")
        check(max_songs, "data.max_songs", optional(integer(1)), "an integer >= 1 or null")
        if genres and not labels:
            raise ValueError("data.genres needs data.labels: the path to LPD's labels.tar.gz")
        self.track_ids = track_ids(list(tracks))
        self.track_names = [LPD5_TRACKS[i] for i in self.track_ids]
        self.fractions = check_fractions(split)
        self.source, self.root, self.data_dir = source, root, Path(data_dir).expanduser()
        self.seq_len, self.batch_size, self.num_workers = seq_len, batch_size, num_workers
        self.max_songs, self.window_stride = max_songs, window_stride
        self.eval_stride = eval_stride or window_stride
        self.genres, self.labels, self.label_source = list(genres or []), labels, label_source
        self.resolution, self.build_workers = resolution, build_workers
        self.transpose = check(
            transpose, "data.transpose", integer(0, 12), "an integer 0..12 (semitones)"
        )
        self.pin_memory, self.progress = pin_memory, progress
        self.stream = check(stream, "data.stream", one_of((True, False)), "true or false")
        self.ahead = float(check(ahead, "data.ahead", number(0.0, 1.0), "a share in [0, 1]"))
        self.seed = int(torch.randint(0, 2**62, ()).item()) if seed is None else int(seed)
        self.track_lut = model_track_lut(self.track_ids)
        self.entry: Path | None = None
        self._songs: list[SongFile] | None = None
        self.splits: dict[str, NoteSplit] = {}
        self.windows: dict[str, NoteWindows] = {}

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    def spec(self) -> dict:
        """Everything (besides the files themselves) that changes the cached notes."""
        return {
            "source": self.source,
            "root": None if self.root is None else str(Path(self.root).expanduser().resolve()),
            "tracks": self.track_ids,
            "resolution": self.resolution,
            "split": list(self.fractions),
            "max_songs": self.max_songs,
            "genres": sorted(g.lower() for g in self.genres),
            "label_source": self.label_source if self.genres else None,
        }

    def songs(self) -> list[SongFile]:
        """The configured songs: the source, then the genre filter, then ``max_songs``.
        Resolved once per datamodule: a MIDI source converts (and reports its skipped
        files) once, not at every hook that needs the list."""
        if self._songs is None:
            self._songs = self._resolve_songs()
        return self._songs

    def _resolve_songs(self) -> list[SongFile]:
        files = resolve_songs(
            self.source,
            self.root,
            self.data_dir,
            max_songs=self.max_songs,
            workers=self.build_workers,
            progress=self.progress,
        )
        if self.genres:
            wanted = genre_ids(self.labels, self.genres, self.label_source)
            files = [f for f in files if f.song_id in wanted]
            if not files:
                raise DataSourceError(
                    f"data.genres={self.genres}: no song of data.root carries these "
                    f"{self.label_source} labels (LPD's labels use MSD track ids)"
                )
        return files[: self.max_songs] if self.max_songs else files

    def prepare_data(self) -> None:
        files = self.songs()
        self.entry = open_or_build(
            files,
            self.data_dir / "cache",
            self.spec(),
            self.track_ids,
            self.fractions,
            workers=self.build_workers,
            progress=self.progress,
        )

    def setup(self, stage: str | None = None) -> None:
        if self.entry is None:  # a fresh process (DDP rank > 0): find the entry prepared
            self.entry = self.data_dir / "cache" / cache_key(self.spec(), self.songs())
            if not (self.entry / "meta.json").exists():
                self.prepare_data()
        length = self.seq_len + 1
        for name in SPLITS:
            split = NoteSplit(self.entry / name)
            stride = self.window_stride if name == "train" else self.eval_stride
            self.splits[name] = split
            shift = self.transpose if name == "train" else 0  # val/test: the music as it is
            if name != "train" and self.test_pass == "song":
                self.windows[name] = SongWindows(
                    split, self.seq_len, self.eval_context, self.track_lut
                )
            else:
                ahead = self.ahead if name == "train" else 0.0  # val/test: the plain task
                self.windows[name] = NoteWindows(
                    split, length, stride, self.track_lut, shift, seed=self.seed, ahead=ahead
                )
        log.info("data: %s", self.summary())
        n_train = len(self.windows["train"])
        if stage in (None, "fit") and 0 < n_train < self.batch_size:
            raise DataSourceError(
                f"data.batch_size={self.batch_size} is more than the {n_train:,} training "
                f"windows of data.seq_len={self.seq_len}+1 notes; lower data.batch_size"
            )
        if stage in (None, "fit") and n_train == 0:
            n_train = self.splits["train"].n_songs
            if self.fractions[0] == 0:
                raise DataSourceError(
                    f"data.split={list(self.fractions)} leaves no training song; training "
                    "needs a train fraction > 0 (a split like 'test' is for evaluation)"
                )
            if n_train == 0:
                counts = {k: v.n_songs for k, v in self.splits.items()}
                raise DataSourceError(
                    f"no training song: the {sum(counts.values())} readable songs all fall "
                    f"in val ({counts['val']}) or test ({counts['test']}); add songs"
                )
            raise DataSourceError(
                f"no training window of data.seq_len={self.seq_len}+1 notes: the "
                f"{n_train} training songs are too short or too few; "
                "lower data.seq_len or add songs"
            )

    def _loader(self, name: str, batches: EpochBatches | None = None) -> DataLoader:
        return DataLoader(
            self.windows[name],
            batch_size=1 if batches else self.batch_size,  # DataLoader's defaults with a
            batch_sampler=batches,  # batch sampler
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
            worker_init_fn=_leave_stops_to_the_parent,
        )

    def train_dataloader(self) -> DataLoader:
        rank, world, epoch, done = 0, 1, 0, 0
        if self.trainer is not None:  # the epoch a resumed run restarts at (see batches.py)
            rank, world = self.trainer.global_rank, self.trainer.world_size
            loop = self.trainer.fit_loop
            epoch = loop.epoch_progress.current.processed
            progress = loop.epoch_loop.batch_progress
            if loop.restarting and not progress.is_last_batch:  # resumed mid-epoch
                done = progress.current.completed  # batches of this epoch already trained
        if self.stream:
            offsets = self.splits["train"].offsets
            batches = StreamBatches(
                offsets, self.seq_len, self.batch_size, self.seed, epoch, rank, world, done
            )
            if len(batches) == 0:
                songs = int((np.diff(offsets) > self.seq_len).sum())
                raise DataSourceError(
                    f"data.stream: {songs} training songs have more than data.seq_len="
                    f"{self.seq_len} notes, fewer than the {self.batch_size * world} rows of a "
                    "batch (data.batch_size on every process); lower data.batch_size"
                )
            return self._loader("train", batches)  # type: ignore[arg-type]
        order = EpochOrder(len(self.windows["train"]), self.seed, shuffle=True, epoch=epoch)
        return self._loader("train", EpochBatches(order, self.batch_size, rank, world, done))

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def _played_split(self) -> tuple[str, NoteSplit]:
        """The training songs, else the validation or test songs (``data.split=test``)."""
        if self.entry is None:
            self.prepare_data()
        splits = self.splits or {n: NoteSplit(self.entry / n) for n in SPLITS}  # type: ignore[operator]
        name = next((n for n in SPLITS if splits[n].n_songs), "train")
        return name, splits[name]

    def velocity_counts(self) -> np.ndarray:
        """How many training notes of each LPD-5 track have each velocity, ``(5, 128)``
        int64 (``data.performance.velocity_counts``), counted in chunks (bounded memory on
        the full LPD). Prepares the data if needed."""
        _, split = self._played_split()
        columns, counts = split.columns, np.zeros((len(LPD5_TRACKS), 128), dtype=np.int64)
        for lo in range(0, split.n_notes, CHUNK):
            hi = lo + CHUNK
            counts += velocity_counts(columns["track"][lo:hi], columns["velocity"][lo:hi])
        return counts

    def performance(self) -> Performance:
        """How the training songs are played: their median tempo and each track's median
        velocity (``data.performance``), what a model trained on them plays by default.
        From the validation or test songs when there are no training songs
        (``data.split=test``)."""
        name, split = self._played_split()
        what = f"{split.n_songs:,} {'training' if name == 'train' else name} songs"
        return Performance.of_songs(split.main_qpm, self.velocity_counts(), what)

    def summary(self) -> dict:
        """Songs, notes and windows per split, for logs and reports."""
        return {
            name: {
                "songs": self.splits[name].n_songs,
                "notes": self.splits[name].n_notes,
                "windows": len(self.windows[name]),
            }
            for name in self.splits
        }


def _leave_stops_to_the_parent(worker_id: int) -> None:
    """A DataLoader worker ignores SIGINT and SIGTERM: a Ctrl-C or a scheduler's SIGTERM sent
    to the whole process group stops the run between two steps (``musegen.errors``), which
    needs the workers alive until then. The loader ends them, or torch's watchdog when the
    parent has died. (Nothing random happens in a worker: no seeding is needed here.)"""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


class EpochBatches(ShardedBatches):
    """``ShardedBatches`` whose batches say their epoch (``EpochIndices``): what the
    windows' transpositions are drawn from, besides the seed (``data.windows``)."""

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.sampler.epoch  # set before each epoch's iterator is made (batches.py)
        for indices in super().__iter__():
            yield EpochIndices(indices, epoch)
