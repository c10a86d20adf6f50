"""The public API: a stateful refiner that any tracker calls once per frame."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from alpha_refine._inputs import (
    BOX_FORMATS,
    COLORS,
    as_rgb_frame,
    as_xywh_boxes,
    check_choice,
    resolve_device,
)
from alpha_refine.config import ModelConfig
from alpha_refine.geometry import (
    CROP_SIZE,
    BoxFormat,
    boxes_from_crop,
    clip_boxes,
    convert_boxes,
    crop_and_resize,
    paste_mask,
    published_inverse_windows,
    search_windows,
)
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.weights import WeightsInfo, load_pretrained, push_to_hub, save_weights

Geometry = Literal["exact", "published"]
GEOMETRIES: tuple[str, ...] = ("exact", "published")

# ImageNet statistics on the 0..255 scale, RGB.
_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


class RandomWeightsWarning(UserWarning):
    """A refiner was built with random weights: its boxes mean nothing (fine for tests)."""


class RefineResult(NamedTuple):
    """What :meth:`Refiner.refine` returns.

    Attributes:
        box: refined box(es) in the refiner's ``box_format`` and frame pixels, ``float64``:
            shape ``(4,)`` for one target, ``(N, 4)`` for ``N``. Always finite, inside the frame,
            with positive width and height.
        mask: ``None`` unless a mask was asked for; then foreground probabilities in ``[0, 1]``,
            ``float32``, full frame size: ``(H, W)`` for one target, ``(N, H, W)`` for ``N``.
            Binarise with :func:`alpha_refine.threshold_mask`.
    """

    box: NDArray[np.float64]
    mask: NDArray[np.float32] | None


class Refiner:
    """Alpha-Refine for any tracker: ``initialize`` on the first frame, ``refine`` afterwards.

    Frames are ``H x W x 3`` ``uint8`` arrays in **BGR** order (OpenCV) by default; pass
    ``color="rgb"`` for RGB. Grayscale (``H x W``) and 4-channel (alpha ignored) frames work, and
    float frames with values in ``[0, 1]``. Boxes are **x, y, w, h in pixels** by default
    (top-left corner, width, height); ``box_format="xyxy"`` or ``"cxcywh"`` switch that for
    inputs and outputs alike. One box ``(4,)`` refines one target; ``(N, 4)`` refines ``N``
    targets in one batch.

    Args:
        config: architecture; builds a network with **random weights** (a test fixture, warns
            with :class:`RandomWeightsWarning`). Use :meth:`from_network` for a trained network.
        device: ``"auto"`` (CUDA when available, else CPU) or any torch device.
        color: channel order of the frames, ``"bgr"`` or ``"rgb"``.
        box_format: ``"xywh"``, ``"xyxy"`` or ``"cxcywh"``, for input and output boxes.
        return_mask: default for :meth:`refine`'s ``return_mask``.
        min_box_size: refined boxes are clipped to the frame with at least this width and
            height in pixels (capped at the frame size; the published trackers use 10). Input
            boxes are cropped as given, however small.
        geometry: ``"exact"`` maps the predicted box back through the crop that was really
            taken; ``"published"`` reproduces the published code's mapping (unrounded crop
            origin) and its zeroed last column/row at the right/bottom image edge.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        device: str | torch.device = "auto",
        color: Literal["bgr", "rgb"] = "bgr",
        box_format: BoxFormat = "xywh",
        return_mask: bool = False,
        min_box_size: float = 10.0,
        geometry: Geometry = "exact",
    ) -> None:
        if config is not None and not isinstance(config, ModelConfig):
            raise TypeError(f"config must be a ModelConfig, got {type(config).__name__}")
        warnings.warn(
            "Refiner built with random weights: its boxes are meaningless. "
            "Use Refiner.from_pretrained() or Refiner.from_network() for a trained model.",
            RandomWeightsWarning,
            stacklevel=2,
        )
        self._setup(
            AlphaRefineNet(config),
            device=device,
            color=color,
            box_format=box_format,
            return_mask=return_mask,
            min_box_size=min_box_size,
            geometry=geometry,
        )

    @classmethod
    def from_network(cls, network: AlphaRefineNet, **options: Any) -> Refiner:
        """A refiner around an existing (trained) network; ``options`` as for the constructor."""
        if not isinstance(network, AlphaRefineNet):
            raise TypeError(f"network must be an AlphaRefineNet, got {type(network).__name__}")
        refiner = cls.__new__(cls)
        refiner._setup(network, **options)
        return refiner

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str] | None = None,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        **options: Any,
    ) -> Refiner:
        """Load trained weights.

        Args:
            name_or_path: ``None`` for the model embedded in the package; a folder with
                ``model.safetensors`` and ``config.json``; a ``.safetensors`` file (its config
                beside it or in its metadata); or a Hugging Face hub repo id ``"org/name"``,
                optionally pinned as ``"org/name@revision"``.
            revision: hub branch, tag or commit (pin a commit for reproducible results).
            cache_dir, local_files_only, token: passed to ``huggingface_hub``; ``HF_HUB_OFFLINE=1``
                and ``HF_HOME`` work as usual.
            options: refiner options as for the constructor (``device``, ``color``,
                ``box_format``...). Options the weights were made for (their ``inference``
                config, e.g. ``geometry``) are the defaults.
        """
        network, info = load_pretrained(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        refiner = cls.from_network(network, **{**info.inference, **options})
        refiner.weights_info = info
        return refiner

    def save_pretrained(
        self,
        directory: str | os.PathLike[str],
        *,
        dtype: Literal["float32", "float16"] = "float32",
        provenance: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``model.safetensors`` and ``config.json`` into ``directory``.

        ``dtype="float16"`` halves the file (loaded back as float32). ``provenance`` replaces
        the loaded weights' provenance (source, training data, licence...).
        """
        return save_weights(
            self.network,
            directory,
            dtype=dtype,
            inference=self.weights_info.inference,
            provenance=self.weights_info.provenance if provenance is None else provenance,
        )

    def push_to_hub(self, repo_id: str, **kwargs: Any) -> str:
        """Upload the weights to a hub repo (for maintainers); see :func:`weights.push_to_hub`."""
        kwargs.setdefault("inference", self.weights_info.inference)
        kwargs.setdefault("provenance", self.weights_info.provenance)
        return push_to_hub(self.network, repo_id, **kwargs)

    def _setup(
        self,
        network: AlphaRefineNet,
        *,
        device: str | torch.device = "auto",
        color: Literal["bgr", "rgb"] = "bgr",
        box_format: BoxFormat = "xywh",
        return_mask: bool = False,
        min_box_size: float = 10.0,
        geometry: Geometry = "exact",
    ) -> None:
        check_choice("color", color, COLORS)
        check_choice("box_format", box_format, BOX_FORMATS)
        check_choice("geometry", geometry, GEOMETRIES)
        if not isinstance(return_mask, bool):
            raise TypeError(f"return_mask must be a bool, got {type(return_mask).__name__}")
        if not (np.isfinite(min_box_size) and min_box_size >= 1.0):
            raise ValueError(f"min_box_size must be a finite number >= 1 pixel, got {min_box_size}")
        if return_mask and network.mask_head is None:
            raise ValueError("return_mask=True needs a network with a mask head")
        self.device = resolve_device(device)
        self.network = network.to(self.device).eval()
        self.color = color
        self.box_format = box_format
        self.return_mask = return_mask
        self.min_box_size = float(min_box_size)
        self.geometry = geometry
        self._mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        self._kernels: torch.Tensor | None = None
        self.weights_info = WeightsInfo(model=network.config)

    @property
    def config(self) -> ModelConfig:
        """The network's architecture."""
        return self.network.config

    @property
    def num_targets(self) -> int:
        """Number of targets set by the last :meth:`initialize` (0 before)."""
        return 0 if self._kernels is None else int(self._kernels.shape[0])

    def initialize(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Set the target(s) from a frame where their boxes are known (usually the first).

        Args:
            frame: ``H x W x 3`` image in the refiner's ``color`` order (see the class docs).
            box: ``(4,)`` for one target or ``(N, 4)`` for ``N`` targets, in ``box_format``,
                pixels. Replaces any earlier targets.
        """
        rgb = as_rgb_frame(frame, self.color)
        boxes, _ = as_xywh_boxes(box, self.box_format)
        windows = search_windows(boxes)
        with torch.inference_mode():
            self._kernels = self.network.template_kernel(self._crops(rgb, windows))

    def reset(self) -> None:
        """Forget the targets; :meth:`initialize` must be called again."""
        self._kernels = None

    def refine(
        self, frame: NDArray[Any], box: ArrayLike, *, return_mask: bool | None = None
    ) -> RefineResult:
        """Refine the base tracker's box(es) on a new frame.

        Args:
            frame: ``H x W x 3`` image in the refiner's ``color`` order.
            box: the base tracker's estimate, ``(4,)`` or ``(N, 4)`` with ``N`` equal to the
                number of initialised targets, in ``box_format``, pixels. Boxes partly or
                wholly outside the frame are allowed; the result is clipped to the frame.
            return_mask: also return the mask (defaults to the refiner's ``return_mask``).

        Returns:
            :class:`RefineResult` ``(box, mask)``, shapes following ``box``.
        """
        if self._kernels is None:
            raise RuntimeError("refine() called before initialize(frame, box)")
        want_mask = self.return_mask if return_mask is None else return_mask
        if not isinstance(want_mask, bool):
            raise TypeError(f"return_mask must be a bool or None, got {type(return_mask).__name__}")
        if want_mask and self.network.mask_head is None:
            raise ValueError("return_mask=True needs a network with a mask head")
        rgb = as_rgb_frame(frame, self.color)
        boxes, single = as_xywh_boxes(box, self.box_format)
        if len(boxes) != self.num_targets:
            raise ValueError(
                f"box has {len(boxes)} target(s) but initialize() set {self.num_targets}"
            )
        windows = search_windows(boxes)
        with torch.inference_mode():
            output = self.network(self._crops(rgb, windows), self._kernels, with_mask=want_mask)
            corners = output.corners.double().cpu().numpy()
            probabilities = None
            if output.mask_logits is not None:
                probabilities = output.mask_logits[:, 0].sigmoid().float().cpu().numpy()
        if not np.all(np.isfinite(corners)):
            raise RuntimeError("the network produced non-finite corners; are the weights broken?")
        inverse = windows if self.geometry == "exact" else published_inverse_windows(boxes)
        refined = boxes_from_crop(convert_boxes(corners, "xyxy", "xywh"), inverse)
        refined = clip_boxes(refined, rgb.shape[:2], self.min_box_size)
        out_boxes = convert_boxes(refined, "xywh", self.box_format)
        masks = None
        if probabilities is not None:
            frame_shape = rgb.shape[:2]
            masks = np.stack(
                [paste_mask(p, w, frame_shape) for p, w in zip(probabilities, windows, strict=True)]
            )
        if single:
            return RefineResult(out_boxes[0], None if masks is None else masks[0])
        return RefineResult(out_boxes, masks)

    def _crops(self, rgb: NDArray[Any], windows: NDArray[np.int64]) -> torch.Tensor:
        """Normalised ``N x 3 x 256 x 256`` crops of ``windows`` on the refiner's device."""
        published_edge = self.geometry == "published"
        crops = np.stack(
            [crop_and_resize(rgb, w, CROP_SIZE, published_edge=published_edge) for w in windows]
        )
        batch = torch.from_numpy(crops).to(self.device).permute(0, 3, 1, 2).float()
        return (batch - self._mean) / self._std

    def __repr__(self) -> str:
        return (
            f"Refiner(backbone={self.config.backbone!r}, device={str(self.device)!r}, "
            f"color={self.color!r}, box_format={self.box_format!r}, "
            f"targets={self.num_targets})"
        )
