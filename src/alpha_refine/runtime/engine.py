"""The engine protocol and the PyTorch engine used by :class:`alpha_refine.Refiner`.

Everything here is an exact re-arrangement of the network as built, up to floating-point
rounding:

* :class:`Engine` is what the refiner needs from a backend (the ONNX Runtime one is
  :class:`alpha_refine.runtime.onnx_engine.OnnxRuntimeEngine`).
* :func:`fold_batchnorm` folds inference-mode BatchNorm into the preceding convolution.
* :class:`TorchEngine` runs a BN-folded, ``channels_last`` copy of the network under
  ``torch.inference_mode``, optionally under CUDA autocast (fp16/bf16) and ``torch.compile``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from alpha_refine.model.heads import corner_confidence
from alpha_refine.model.network import AlphaRefineNet
from alpha_refine.model.preprocess import normalize_crops

Precision = Literal["float32", "float16", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "float16", "bfloat16")
_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


# --- BatchNorm folding --------------------------------------------------------------------


_Module = TypeVar("_Module", bound=nn.Module)


def fold_batchnorm(module: _Module) -> _Module:
    """Fold every ``Conv2d`` followed by a ``BatchNorm2d`` into one ``Conv2d``, in place.

    Finds the pairs the Alpha-Refine modules use: consecutive entries of an ``nn.Sequential``
    and the ``convK``/``bnK`` attributes of the ResNet trunk and its blocks. The batch norm is
    replaced by ``nn.Identity``. Only valid in eval mode (running statistics). Returns
    ``module``.
    """
    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    for k in range(1, 4):
        named_conv = getattr(module, f"conv{k}", None)
        named_norm = getattr(module, f"bn{k}", None)
        if isinstance(named_conv, nn.Conv2d) and isinstance(named_norm, nn.BatchNorm2d):
            setattr(module, f"conv{k}", fuse_conv_bn_eval(named_conv, named_norm))
            setattr(module, f"bn{k}", nn.Identity())
    return module


# --- engines ------------------------------------------------------------------------------


class SearchOutput(NamedTuple):
    """An engine's answer for ``N`` search crops (``float32``).

    Attributes:
        corners: ``N x 4`` ``x1, y1, x2, y2`` in crop pixels.
        confidence: ``N`` corner-map sharpness in ``[0, 1]``
            (:func:`~alpha_refine.model.heads.corner_confidence`).
        mask: ``N x S x S`` foreground probabilities, or ``None`` when not asked for.
        blend_summary: the blend head's summary
            (:meth:`~alpha_refine.model.blend.BlendHead.summarise`), or ``None`` for a network
            without a blend head.
    """

    corners: Tensor
    confidence: Tensor
    mask: Tensor | None
    blend_summary: Tensor | None = None


class Engine(Protocol):
    """What the refiner needs from a backend. Crops are ``N x S x S x 3`` RGB, ``0..255``.

    Engines hold no target state (kernels are passed in), so refiners may share one.
    """

    device: torch.device

    def kernels(self, crops: Tensor) -> Tensor:
        """Template kernels ``N x C x 8 x 8`` (``float32``) from template crops."""
        ...

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        """Corners, confidence and (if asked) mask probabilities of the search crops."""
        ...


class TorchEngine:
    """The network in PyTorch, prepared for inference.

    Args:
        network: the network; it is copied, never modified.
        device: where to run.
        precision: ``"float16"``/``"bfloat16"`` run the network under autocast (the
            correlation and the soft-argmax stay in ``float32``).
        compile: wrap the network in ``torch.compile`` (``mode="reduce-overhead"``, i.e. CUDA
            graphs, on CUDA). Each new number of targets compiles once more.
        fold_bn: fold BatchNorm into the convolutions (exact up to rounding).
        channels_last: NHWC memory layout for convolutions.
    """

    def __init__(
        self,
        network: AlphaRefineNet,
        device: torch.device,
        *,
        precision: Precision = "float32",
        compile: bool = False,
        fold_bn: bool = True,
        channels_last: bool = True,
    ) -> None:
        self.device = device
        self.precision = precision
        self.channels_last = channels_last
        prepared = copy.deepcopy(network).eval().requires_grad_(False)
        if fold_bn:
            fold_batchnorm(prepared)
        prepared = prepared.to(device)
        if channels_last:
            prepared = prepared.to(memory_format=torch.channels_last)
        self.network: AlphaRefineNet = prepared
        self._template: Callable[[Tensor], Tensor] = prepared.template_kernel
        self._forward: Callable[..., Any] = prepared
        if compile:
            mode = "reduce-overhead" if device.type == "cuda" else None
            self._template = torch.compile(prepared.template_kernel, mode=mode)
            self._forward = torch.compile(prepared, mode=mode)

    def _inputs(self, crops: Tensor) -> Tensor:
        batch = normalize_crops(crops.to(self.device, non_blocking=True))
        if self.channels_last:  # a permuted NHWC tensor already is channels_last
            return batch.contiguous(memory_format=torch.channels_last)
        return batch.contiguous()

    def _autocast(self) -> Any:
        if self.precision == "float32":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def kernels(self, crops: Tensor) -> Tensor:
        with torch.inference_mode(), self._autocast():
            # A copy: under CUDA graphs the output buffer is reused by the next call.
            return self._template(self._inputs(crops)).float().clone()

    def search(self, crops: Tensor, kernels: Tensor, with_mask: bool) -> SearchOutput:
        with torch.inference_mode(), self._autocast():
            output = self._forward(self._inputs(crops), kernels, with_mask=with_mask)
            corners = output.corners.float()
            confidence = corner_confidence(output.corner_scores.float())
            probabilities = None
            if output.mask_logits is not None:
                probabilities = output.mask_logits[:, 0].float().sigmoid()
            summary = None if output.blend_summary is None else output.blend_summary.float()
        return SearchOutput(corners, confidence, probabilities, summary)
