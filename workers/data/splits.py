"""Which chunk files feed training, testing and validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lc0train import data_pb2
from workers.data.files import discover_chunks
from workers.data.window import ChunkIndex
from workers.seeds import derive_seed


@dataclasses.dataclass(frozen=True)
class DataFiles:
    train: list[Path]
    test: list[Path]
    validation: list[Path]


def resolve_data_files(config: data_pb2.DataConfig, seed: int, with_train: bool = True) -> DataFiles:
    """Expands the dataset specs; `input` + `train_ratio` splits one pool by file in a seeded order.
    With `num_chunks`, the training chunks (or the pool) are the newest `num_chunks` only.
    Without `with_train` (a continuous job's windows) `input_train` is left out."""
    validation = discover_chunks(config.input_validation) if config.input_validation else []
    if not config.input:
        train = training_chunks(config, config.input_train) if with_train else []
        return DataFiles(train, discover_chunks(config.input_test), validation)
    pool = training_chunks(config, config.input)
    order = np.random.default_rng(derive_seed(seed, "train-test-split")).permutation(len(pool))
    n_train = int(len(pool) * config.train_ratio)
    if n_train == 0 or n_train == len(pool):
        raise ValueError(f"dataset.train_ratio: {config.train_ratio} of {len(pool)} chunk files leaves an empty train or test set")
    return DataFiles([pool[i] for i in sorted(order[:n_train])], [pool[i] for i in sorted(order[n_train:])], validation)


def check_shares(files: DataFiles, config: data_pb2.DataConfig, process_count: int) -> None:
    """Raises ValueError naming the dataset field of a split with fewer files than processes: each
    process reads its own share of every split's files, so each needs one at least."""
    fields = {"train": "dataset.input" if config.input else "dataset.input_train",
              "test": "dataset.input" if config.input else "dataset.input_test", "validation": "dataset.input_validation"}
    for split, field in fields.items():
        found = len(getattr(files, split))
        if 0 < found < process_count:
            raise ValueError(f"{field}: {found} {split} chunk file(s) for {process_count} processes; each process "
                             f"reads its own share, so at least {process_count} are needed")


def training_chunks(config: data_pb2.DataConfig, specs: Sequence[str]) -> list[Path]:
    """Every chunk `specs` name, or with `dataset.num_chunks` the newest that many (sorted by path).

    Raises ValueError when fewer chunks exist and `allow_less_chunks` is off.
    """
    if not config.num_chunks:
        return discover_chunks(specs)
    index = ChunkIndex(specs, config.sort_type)
    index.poll()
    if not len(index):
        raise ValueError(f"dataset inputs {list(specs)} match no chunk files")
    if len(index) < config.num_chunks and not config.allow_less_chunks:
        raise ValueError(f"dataset.num_chunks: {config.num_chunks} chunks wanted, the inputs hold only "
                         f"{len(index)} (set dataset.allow_less_chunks to train on fewer)")
    return sorted(index.window(config.num_chunks), key=str)

