"""A dataset in memory: training images and labels, named test sets, class names. Every loader
(memgen/data/loaders.py) and the long-tail generator (memgen/data/longtail.py) returns one."""

import sys
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 [N, C, H, W]
    y_train: np.ndarray  # int64 [N]
    tests: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (uint8 [M, C, H, W], int64 [M])
    num_classes: int
    truth: dict = field(default_factory=dict)  # generator ground truth (longtail only)
    class_names: list[str] | None = None  # default: the class indices as text

    @property
    def classes(self) -> list[str]:
        return list(self.class_names or [str(c) for c in range(self.num_classes)])

    @property
    def streamed(self) -> bool:
        # images stream only once memgen.data.stream (torch) is imported: not imported here for light rules
        stream = sys.modules.get("memgen.data.stream")
        return stream is not None and isinstance(self.x_train, stream.FolderImages)

    @property
    def mean(self) -> np.ndarray:
        """Per-channel mean of the training images in [0, 1] (normalisation constant)."""
        if self.streamed:
            return self.x_train.stats()[0]
        return (self.x_train.astype(np.float64) / 255).mean(axis=(0, 2, 3))

    @property
    def std(self) -> np.ndarray:
        if self.streamed:
            return self.x_train.stats()[1]
        return np.maximum((self.x_train.astype(np.float64) / 255).std(axis=(0, 2, 3)), 1e-3)
