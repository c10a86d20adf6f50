"""What :meth:`Refiner.refine <alpha_refine.Refiner.refine>` returns, and a refiner's targets
as :meth:`~alpha_refine.Refiner.get_state` saves them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from alpha_refine.weights.store import load_state_file, save_state_file


class RefineResult(tuple[NDArray[np.float64], NDArray[np.float32] | None]):
    """What :meth:`Refiner.refine` returns; unpacks as ``box, mask = result``.

    Attributes:
        box: refined box(es) in the refiner's ``box_format`` and frame pixels, ``float64``:
            shape ``(4,)`` for one target, ``(N, 4)`` for ``N``. Always finite, inside the frame,
            with positive width and height.
        mask: ``None`` unless a mask was asked for; then foreground probabilities in ``[0, 1]``,
            ``float32``, full frame size: ``(H, W)`` for one target, ``(N, H, W)`` for ``N``.
            Binarise with :func:`alpha_refine.threshold_mask`.
        confidence: how sharply the network's corner maps peak, in ``[0, 1]``
            (:func:`~alpha_refine.model.heads.corner_confidence`), ``float64``: shape ``()``
            for one target, ``(N,)`` for ``N``. Low values mean the network is unsure.
        gated: ``bool``, same shape: the safe-refine gate kept the input box (clipped to the
            frame) because the refined one looked implausible; always false without a gate.
    """

    confidence: NDArray[np.float64]
    gated: NDArray[np.bool_]

    def __new__(
        cls,
        box: NDArray[np.float64],
        mask: NDArray[np.float32] | None,
        confidence: NDArray[np.float64],
        gated: NDArray[np.bool_],
    ) -> RefineResult:
        result = super().__new__(cls, (box, mask))
        result.confidence = confidence
        result.gated = gated
        return result

    def __getnewargs__(self) -> tuple[Any, ...]:  # copy and pickle
        return (self.box, self.mask, self.confidence, self.gated)

    @property
    def box(self) -> NDArray[np.float64]:
        return self[0]

    @property
    def mask(self) -> NDArray[np.float32] | None:
        return self[1]

    def __repr__(self) -> str:
        return (
            f"RefineResult(box={self.box!r}, mask={self.mask!r}, "
            f"confidence={self.confidence!r}, gated={self.gated!r})"
        )


@dataclass(frozen=True)
class RefinerState:
    """A refiner's targets: what :meth:`Refiner.get_state` returns and ``set_state`` takes.

    Attributes:
        kernels: ``N x C x 8 x 8`` ``float32`` template kernels on the CPU (``None``: no targets);
            ``N x 2 x C x 8 x 8`` from a refiner with ``flip=True`` (the mirrored view second).
        ids: the ``N`` target ids, in order.
        next_id: the id the next added target gets.
        fingerprint: the weights the kernels were made with (:func:`weights_fingerprint`).
    """

    kernels: torch.Tensor | None
    ids: NDArray[np.int64]
    next_id: int
    fingerprint: str

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the state to a ``.safetensors`` file (atomically); returns the path."""
        return save_state_file(
            path, self.kernels, self.ids, self.next_id, {"fingerprint": self.fingerprint}
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RefinerState:
        """Read a state written by :meth:`save`."""
        kernels, ids, next_id, metadata = load_state_file(path)
        return cls(kernels, ids, next_id, metadata.get("fingerprint", ""))
