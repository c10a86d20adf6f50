"""The public API: a stateful refiner that any tracker calls once per frame.

The refiner holds its options, its targets and the per-frame path (crops, search, blend, flip,
gate, mapping back to the frame). The work is delegated: the engine is chosen and built by
:mod:`alpha_refine.runtime.build`, results and saved states are :mod:`alpha_refine.state`, and
:mod:`alpha_refine.geometry`, :mod:`alpha_refine.gate` and :mod:`alpha_refine.weights` do the
rest (docs/concepts.md, "The layout").
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import cv2
import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray

from alpha_refine._inputs import (
    BOX_FORMATS,
    COLORS,
    as_xywh_boxes,
    check_choice,
)
from alpha_refine.config import ModelConfig
from alpha_refine.gate import GateConfig, as_gate, crop_mask_boxes, gate_targets
from alpha_refine.geometry import (
    CROP_SIZE,
    BoxFormat,
    boxes_from_crop,
    boxes_to_crop,
    clip_boxes,
    convert_boxes,
    crop_and_resize,
    mirror_crop_corners,
    paste_mask,
    published_inverse_windows,
    search_windows,
)
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.runtime.build import Backend, Precision, build_engine
from alpha_refine.runtime.crop import batched_crop, frame_pixels
from alpha_refine.runtime.engine import Engine
from alpha_refine.state import RefineResult, RefinerState
from alpha_refine.weights.store import (
    WeightsInfo,
    load_pretrained,
    push_to_hub,
    save_weights,
    weights_fingerprint,
)

if TYPE_CHECKING:
    from alpha_refine.runtime.guard import Int8Check

Geometry = Literal["exact", "published"]
GEOMETRIES: tuple[str, ...] = ("exact", "published")
Crop = Literal["auto", "opencv", "device"]
CROPS: tuple[str, ...] = ("auto", "opencv", "device")


class RandomWeightsWarning(UserWarning):
    """A refiner was built with random weights: its boxes mean nothing (fine for tests)."""


# The gate of refiners built by from_pretrained() when the weights' config names none
# (docs/reliability.md has the measurement behind it).
PRETRAINED_GATE: GateConfig | None = None

GateOption = GateConfig | Mapping[str, Any] | bool | None


class Refiner:
    """Alpha-Refine for any tracker: ``initialize`` on the first frame, ``refine`` afterwards.

    Frames are ``H x W x 3`` ``uint8`` arrays in **BGR** order (OpenCV) by default; pass
    ``color="rgb"`` for RGB. Grayscale (``H x W``) and 4-channel (alpha ignored) frames work, and
    float frames with values in ``[0, 1]``. Boxes are **x, y, w, h in pixels** by default
    (top-left corner, width, height); ``box_format="xyxy"`` or ``"cxcywh"`` switch that for
    inputs and outputs alike. One box ``(4,)`` refines one target; ``(N, 4)`` refines ``N``
    targets in one batch: one forward pass, each target with its own template kernel, results
    in the order of :attr:`target_ids`. Targets can be added (:meth:`add_targets`) and removed
    (:meth:`remove_targets`) between frames.

    ``refine`` runs a copy of the network prepared for inference when the refiner is built
    (BatchNorm folded into the convolutions, ``channels_last``; or an ONNX Runtime session), so
    build a new refiner after changing the weights of ``network``. See docs/performance.md for
    the speed of each option.

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
        backend: ``"torch"`` (the default here and for :meth:`from_network`),
            ``"onnxruntime"`` (CPU only; the fastest on CPUs; needs the ``onnx`` dependencies;
            exports the network when the refiner is built, seconds, or reads the graphs from
            the on-disk cache, docs/performance.md), or ``"auto"`` (the default of
            :meth:`from_pretrained`): ONNX Runtime on a CPU, torch on CUDA
            (:mod:`alpha_refine.runtime.select` has the rule; ``repr(refiner)`` shows the choice).
        precision: ``"auto"``: ``"int8"`` with ONNX Runtime on CPUs with VNNI where the int8
            check passes for these weights (:mod:`alpha_refine.runtime.guard`: when the int8
            graphs are built, their boxes are compared with float32 ones on held-out generated
            inputs; the verdict is cached with the graphs and :attr:`int8_check` holds it), else
            ``"float32"``. ``"float16"`` or ``"bfloat16"`` run the torch backend under autocast
            (meant for CUDA; the correlation and soft-argmax stay in float32). Boxes then
            differ from float32 ones; docs/performance.md gives the measured deviation.
            ``"int8"`` (with ``backend="onnxruntime"`` only) quantizes the trunk to int8,
            calibrated on the package's synthetic sequences when the refiner is first built for
            these weights (tens of seconds; cached on disk; ranges calibrated on real training
            images ship for the embedded model), and checks it as ``"auto"`` does, but keeps
            int8 when the check fails, with an
            :class:`~alpha_refine.runtime.guard.Int8AccuracyWarning`; about twice as fast on
            CPUs with VNNI. On real frames a trained ResNet-18's int8 boxes moved by 0.37 px
            (median), the embedded EfficientNet-Lite0 model's by 0.96 px (docs/performance.md).
        crop: ``"device"`` cuts all targets' crops in one batched gather on the network's
            device (the frame is uploaded once), bit-identical to ``"opencv"`` (which crops
            each target with OpenCV on the CPU) but for windows far larger than the frame
            (one grey level); ``"auto"`` is ``"device"`` on CUDA and ``"opencv"`` otherwise
            (faster there).
        compile: wrap the torch backend in ``torch.compile`` (CUDA graphs on CUDA). Each new
            number of targets compiles again; the first calls take seconds to minutes.
        gate: the safe-refine gate (docs/reliability.md): ``None``/``False`` (off, the
            default here and for :meth:`from_network`), ``True`` (default thresholds), a
            :class:`~alpha_refine.gate.GateConfig` or a mapping of its fields.
        blend: ``True``, for weights with a blend head (:mod:`alpha_refine.model.blend`; the
            embedded model has one): move each edge of the input box only as far towards the
            refined box as the head predicts. Good input boxes then stay closer to good, and
            far fewer frames of a strong tracker get worse, at a small cost in mean gain (the
            embedded model's card has both). ``False`` (the default) returns the corner head's
            box as it is. Weights without a blend head ignore it.
        flip: ``True`` also refines each target in the horizontally mirrored crop (against a
            mirrored template, made by :meth:`initialize`) and averages the two boxes (and
            masks), after blending when ``blend`` is on. The two views' errors are only partly
            the same, so the average is more accurate (the embedded model's card has the
            figures) for twice the network time. Fixed when the refiner is built.

    A refiner is not thread-safe: give each thread (or video) its own, from :meth:`clone`
    to share the prepared network instead of copying it.
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
        backend: Backend = "torch",
        precision: Precision = "float32",
        crop: Crop = "auto",
        compile: bool = False,
        gate: GateOption = None,
        blend: bool = False,
        flip: bool = False,
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
            backend=backend,
            precision=precision,
            crop=crop,
            compile=compile,
            gate=gate,
            blend=blend,
            flip=flip,
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
            cache_dir: passed to ``huggingface_hub`` (``HF_HOME`` works as usual).
            local_files_only: passed to ``huggingface_hub`` (so does ``HF_HUB_OFFLINE=1``).
            token: passed to ``huggingface_hub``.
            options: refiner options as for the constructor (``device``, ``color``,
                ``box_format``...); ``backend`` and ``precision`` default to ``"auto"``: the
                fastest safe path of this machine (ONNX Runtime on a CPU, int8 on CPUs with VNNI
                where the int8 check passes for these weights; torch on CUDA). Options the
                weights were made for (their ``inference`` config, e.g. ``geometry`` or
                ``gate``) are the defaults; without a ``gate`` there, :data:`PRETRAINED_GATE` is.
                ``gate=True`` turns the gate on with the thresholds the weights name, if any,
                else the :class:`GateConfig` defaults.
        """
        network, info = load_pretrained(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
        )
        defaults = {
            "gate": PRETRAINED_GATE,
            "backend": "auto",
            "precision": "auto",
            **info.inference,
        }
        chosen = {**defaults, **options}
        if chosen["gate"] is True and isinstance(defaults["gate"], (GateConfig, Mapping)):
            chosen["gate"] = defaults["gate"]  # on, with the thresholds the weights name
        refiner = cls.from_network(network, **chosen)
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
        backend: Backend = "torch",
        precision: Precision = "float32",
        crop: Crop = "auto",
        compile: bool = False,
        gate: GateOption = None,
        blend: bool = False,
        flip: bool = False,
    ) -> None:
        check_choice("color", color, COLORS)
        check_choice("box_format", box_format, BOX_FORMATS)
        check_choice("geometry", geometry, GEOMETRIES)
        check_choice("crop", crop, CROPS)
        flags = {"return_mask": return_mask, "compile": compile, "blend": blend, "flip": flip}
        for name, flag in flags.items():
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
        if not (np.isfinite(min_box_size) and min_box_size >= 1.0):
            raise ValueError(f"min_box_size must be a finite number >= 1 pixel, got {min_box_size}")
        if return_mask and network.mask_head is None:
            raise ValueError("return_mask=True needs a network with a mask head")
        built = build_engine(
            network, device=device, backend=backend, precision=precision, compile=compile
        )
        self._engine: Engine = built.engine
        self.device = built.device
        self.backend = built.backend
        self.precision = built.precision
        self.backend_reason = built.reason
        self.int8_check: Int8Check | None = built.int8_check
        self.network = network
        self.color = color
        self.box_format = box_format
        self.return_mask = return_mask
        self.min_box_size = float(min_box_size)
        self.geometry = geometry
        self.crop = crop
        self.gate = gate
        self.blend = blend
        self._flip = flip
        self._device_crop = crop == "device" or (crop == "auto" and self.device.type == "cuda")
        self._kernels: torch.Tensor | None = None
        self._ids: NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._next_id = 0
        self._fingerprint: str | None = None
        self.weights_info = WeightsInfo(model=network.config)

    @property
    def config(self) -> ModelConfig:
        """The network's architecture."""
        return self.network.config

    @property
    def num_targets(self) -> int:
        """Number of current targets (0 before :meth:`initialize`)."""
        return len(self._ids)

    @property
    def target_ids(self) -> NDArray[np.int64]:
        """Ids of the current targets, in the order :meth:`refine` takes and returns them."""
        ids: NDArray[np.int64] = self._ids.copy()
        return ids

    @property
    def gate(self) -> GateConfig | None:
        """The safe-refine gate's thresholds, or ``None`` when off. Assign any value the
        ``gate`` option takes (``True``, ``False``, a ``GateConfig``, a mapping) to change it."""
        return self._gate

    @gate.setter
    def gate(self, value: GateOption) -> None:
        self._gate = as_gate(value)

    @property
    def blends(self) -> bool:
        """Whether :meth:`refine` blends: ``blend`` is on and the weights have a blend head."""
        return self.blend and self.network.blend_head is not None

    @property
    def flip(self) -> bool:
        """Whether :meth:`refine` averages the crop's view with its mirror image (the
        ``flip`` option; fixed when the refiner is built)."""
        return self._flip

    @property
    def fingerprint(self) -> str:
        """16 hex digits identifying the network's weights (:func:`weights_fingerprint`)."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.network)
        return self._fingerprint

    def clone(self) -> Refiner:
        """A refiner with the same weights and options but no targets.

        The prepared network (or ONNX Runtime session) is shared, not copied: cheap, and the
        two may refine in different threads at once (not with ``compile=True`` on CUDA, whose
        CUDA graphs reuse their buffers). Targets are never shared.
        """
        twin = copy.copy(self)
        twin.reset()
        return twin

    def get_state(self) -> RefinerState:
        """The targets (template kernels, ids): :meth:`set_state` on this refiner or one with
        the same weights resumes with bit-identical results. ``.save(path)`` writes it."""
        kernels = None if self._kernels is None else self._kernels.detach().cpu().clone()
        return RefinerState(kernels, self._ids.copy(), self._next_id, self.fingerprint)

    def set_state(self, state: RefinerState) -> None:
        """Replace the targets with those of :meth:`get_state` (or ``RefinerState.load``).

        Raises ``ValueError`` when the state was made with other weights or does not fit.
        """
        if not isinstance(state, RefinerState):
            raise TypeError(f"state must be a RefinerState, got {type(state).__name__}")
        if state.fingerprint != self.fingerprint:
            raise ValueError(
                f"state was made with other weights (fingerprint {state.fingerprint!r}, "
                f"this refiner's is {self.fingerprint!r}): its template kernels do not fit"
            )
        count = 0 if state.kernels is None else len(state.kernels)
        if count and state.kernels is not None and state.kernels.ndim != self._kernel_ndim:
            raise ValueError(
                f"state has kernels of shape {tuple(state.kernels.shape)}: it was made by a "
                f"refiner with flip={not self.flip}, this one has flip={self.flip}"
            )
        ids = np.asarray(state.ids, dtype=np.int64).reshape(-1)
        if len(ids) != count or len(set(ids.tolist())) != count:
            raise ValueError(f"state has {count} kernels but ids {ids.tolist()} (need unique)")
        if count and state.next_id <= int(ids.max()):
            raise ValueError(f"state next_id {state.next_id} must exceed its ids {ids.tolist()}")
        kernels = None
        if state.kernels is not None and count:
            kernels = state.kernels.to(self._engine.device, torch.float32).clone()
        self._kernels = kernels
        self._ids = ids.copy()
        self._next_id = int(state.next_id)

    def initialize(self, frame: NDArray[Any], box: ArrayLike) -> None:
        """Set the target(s) from a frame where their boxes are known (usually the first).

        Args:
            frame: ``H x W x 3`` image in the refiner's ``color`` order (see the class docs).
            box: ``(4,)`` for one target or ``(N, 4)`` for ``N`` targets, in ``box_format``,
                pixels. Replaces any earlier targets; their ids are ``0 .. N-1``.
        """
        kernels = self._template_kernels(frame, box)
        self._kernels = kernels
        self._ids = np.arange(len(kernels), dtype=np.int64)
        self._next_id = len(kernels)

    def add_targets(self, frame: NDArray[Any], box: ArrayLike) -> NDArray[np.int64]:
        """Add target(s) seen in ``frame``, keeping the current ones.

        Args:
            frame: the frame where the new targets' boxes are known.
            box: ``(4,)`` or ``(N, 4)`` boxes of the new targets, in ``box_format``.

        Returns:
            The new targets' ids (never reused until :meth:`reset` or :meth:`initialize`).
            They come last in :attr:`target_ids`, in the order given.
        """
        kernels = self._template_kernels(frame, box)
        ids = np.arange(self._next_id, self._next_id + len(kernels), dtype=np.int64)
        self._kernels = kernels if self._kernels is None else torch.cat((self._kernels, kernels))
        self._ids = np.concatenate((self._ids, ids))
        self._next_id += len(kernels)
        return ids

    def remove_targets(self, ids: int | ArrayLike) -> None:
        """Forget the targets with these ids; the others keep their order.

        Raises ``ValueError`` for ids that are not current targets (nothing is removed then).
        """
        wanted = np.asarray(ids).reshape(-1)
        if wanted.size and not np.issubdtype(wanted.dtype, np.integer):
            raise TypeError(f"target ids must be integers, got {wanted.dtype}")
        unknown = sorted(set(wanted.tolist()) - set(self._ids.tolist()))
        if unknown:
            raise ValueError(f"unknown target id(s) {unknown}; current ids: {self._ids.tolist()}")
        keep = ~np.isin(self._ids, wanted)
        self._ids = self._ids[keep]
        if self._kernels is not None:
            self._kernels = self._kernels[torch.from_numpy(keep).to(self._kernels.device)]

    def reset(self) -> None:
        """Forget the targets; :meth:`initialize` must be called again."""
        self._kernels = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._next_id = 0

    def refine(
        self, frame: NDArray[Any], box: ArrayLike, *, return_mask: bool | None = None
    ) -> RefineResult:
        """Refine the base tracker's box(es) on a new frame.

        Args:
            frame: ``H x W x 3`` image in the refiner's ``color`` order.
            box: the base tracker's estimate, ``(4,)`` or ``(N, 4)`` with ``N`` equal to the
                number of targets, in the order of :attr:`target_ids`, in ``box_format``,
                pixels. Boxes partly or wholly outside the frame are allowed; the result is
                clipped to the frame.
            return_mask: also return the mask (defaults to the refiner's ``return_mask``).

        Returns:
            :class:`RefineResult`: unpacks as ``box, mask``; also ``confidence`` and ``gated``
            per target. Shapes follow ``box``.
        """
        if self._kernels is None or not len(self._ids):
            raise RuntimeError(
                "refine() called before initialize(frame, box) (or with every target removed)"
            )
        want_mask = self.return_mask if return_mask is None else return_mask
        if not isinstance(want_mask, bool):
            raise TypeError(f"return_mask must be a bool or None, got {type(return_mask).__name__}")
        if want_mask and self.network.mask_head is None:
            raise ValueError("return_mask=True needs a network with a mask head")
        pixels, reverse_channels = frame_pixels(frame, self.color)
        boxes, single = as_xywh_boxes(box, self.box_format)
        if len(boxes) != self.num_targets:
            raise ValueError(
                f"box has {len(boxes)} target(s) but initialize() set {self.num_targets} "
                "(give one box per target, in the order of target_ids)"
            )
        windows = search_windows(boxes)
        inverse = windows if self.geometry == "exact" else published_inverse_windows(boxes)
        crops = self._crops(pixels, reverse_channels, windows)
        inputs = None  # the input boxes in the crops: only blending reads them
        if self.blends:
            inputs = convert_boxes(boxes_to_crop(boxes, inverse), "xywh", "xyxy")
        corners, confidence, probabilities = self._search(crops, inputs, want_mask)
        refined = boxes_from_crop(convert_boxes(corners, "xyxy", "xywh"), inverse)
        frame_shape = (int(pixels.shape[0]), int(pixels.shape[1]))
        refined = clip_boxes(refined, frame_shape, self.min_box_size)
        gated = np.zeros(len(boxes), dtype=bool)
        if self.gate is not None:
            base = clip_boxes(boxes, frame_shape, self.min_box_size)
            mask_boxes = None
            if probabilities is not None and self.gate.min_mask_iou is not None:
                mask_boxes = boxes_from_crop(crop_mask_boxes(probabilities), windows)
            gated = gate_targets(self.gate, base, refined, confidence, mask_boxes)
            refined = np.where(gated[:, None], base, refined)
        out_boxes = convert_boxes(refined, "xywh", self.box_format)
        masks = None
        if probabilities is not None:
            masks = np.stack(
                [paste_mask(p, w, frame_shape) for p, w in zip(probabilities, windows, strict=True)]
            )
        if single:
            return RefineResult(
                out_boxes[0], None if masks is None else masks[0], confidence[0, ...], gated[0, ...]
            )
        return RefineResult(out_boxes, masks, confidence, gated)

    def _search(
        self, crops: torch.Tensor, inputs: NDArray[np.float64] | None, want_mask: bool
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float32] | None]:
        """Corners (``N x 4``, crop pixels, blended when :attr:`blends`), confidence (``N``)
        and mask probabilities (``N x S x S`` or ``None``) for ``N`` crops whose input boxes
        are ``inputs`` (``x1, y1, x2, y2`` in crop pixels; ``None`` when not blending); with
        :attr:`flip`, the average of the crops' and their mirror images' answers."""
        assert self._kernels is not None
        kernels = self._kernels
        if self.flip:  # one batch: the views first, then their mirror images
            crops = torch.cat((crops, crops.flip(2)))
            kernels = torch.cat((kernels[:, 0], kernels[:, 1]))
            if inputs is not None:
                inputs = np.concatenate((inputs, mirror_crop_corners(inputs)))
        search = self._engine.search(crops, kernels, want_mask)
        corners = search.corners.double().cpu().numpy()
        if not np.all(np.isfinite(corners)):
            raise RuntimeError("the network produced non-finite corners; are the weights broken?")
        if inputs is not None and search.blend_summary is not None:
            corners = self._blend(search.blend_summary, inputs, corners)
        confidence = search.confidence.double().cpu().numpy()
        probabilities = None if search.mask is None else search.mask.float().cpu().numpy()
        if self.flip:
            count = len(corners) // 2
            corners = (corners[:count] + mirror_crop_corners(corners[count:])) / 2
            confidence = (confidence[:count] + confidence[count:]) / 2
            if probabilities is not None:
                probabilities = (probabilities[:count] + probabilities[count:, :, ::-1]) / 2
        return corners, confidence, probabilities

    def _blend(
        self, summary: torch.Tensor, inputs: NDArray[np.float64], corners: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """The blend head's corners (crop pixels, ``N x 4``) between the input boxes'
        ``inputs`` and the refined ``corners``, both ``x1, y1, x2, y2`` in crop pixels."""
        head = self.network.blend_head
        assert head is not None  # a blend summary comes only from a network with the head
        with torch.inference_mode():  # the head lives with self.network, on self.device
            blended = head.blend(
                summary.to(self.device, torch.float32),
                torch.from_numpy(inputs).to(self.device, torch.float32),
                torch.from_numpy(corners).to(self.device, torch.float32),
            )
        return blended.double().cpu().numpy()

    @property
    def _kernel_ndim(self) -> int:
        return 5 if self.flip else 4

    def _template_kernels(self, frame: NDArray[Any], box: ArrayLike) -> torch.Tensor:
        """``N x C x 8 x 8`` kernels; ``N x 2 x C x 8 x 8`` with :attr:`flip` (mirrored second)."""
        pixels, reverse_channels = frame_pixels(frame, self.color)
        boxes, _ = as_xywh_boxes(box, self.box_format)
        crops = self._crops(pixels, reverse_channels, search_windows(boxes))
        if not self.flip:
            return self._engine.kernels(crops)
        kernels = self._engine.kernels(torch.cat((crops, crops.flip(2))))
        return torch.stack((kernels[: len(crops)], kernels[len(crops) :]), dim=1)

    def _crops(
        self, pixels: NDArray[Any], reverse_channels: bool, windows: NDArray[np.int64]
    ) -> torch.Tensor:
        """``N x 256 x 256 x 3`` RGB crops (``0..255``) of ``windows``, for the engine."""
        published_edge = self.geometry == "published"
        if self._device_crop:
            frame = torch.from_numpy(np.ascontiguousarray(pixels)).to(self._engine.device)
            crops = batched_crop(frame, windows, CROP_SIZE, published_edge)
            return crops.flip(-1) if reverse_channels else crops
        cut = [
            crop_and_resize(pixels, window, CROP_SIZE, published_edge=published_edge)
            for window in windows
        ]
        if reverse_channels:  # the same swap as a torch flip, about 30 times faster on a CPU
            cut = [cv2.cvtColor(crop, cv2.COLOR_BGR2RGB) for crop in cut]
        return torch.from_numpy(np.stack(cut))

    def __repr__(self) -> str:
        return (
            f"Refiner(backbone={self.config.backbone!r}, device={str(self.device)!r}, "
            f"backend={self.backend!r}, precision={self.precision!r}, "
            f"chosen_by={self.backend_reason!r}, color={self.color!r}, "
            f"box_format={self.box_format!r}, "
            f"gate={'on' if self.gate else 'off'}, "
            f"blend={'on' if self.blends else 'off'}, "
            f"flip={'on' if self.flip else 'off'}, "
            f"targets={self.num_targets})"
        )
