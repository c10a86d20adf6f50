"""What users meet with the real upstream trackers (pytracking 7eb9e74, pysot d04028f).

The stand-ins below keep the upstream attribute names, dtypes and hand-overs that the adapters and
guides depend on: DiMP's and ATOM's ``pos_iounet`` copied into ``pos`` at the end of
``track()``, their ``torch.Tensor`` (float32, CPU) state, PreciseRoIPooling's float32-only check,
and the two lines of pysot's ``SiamMaskTracker`` that fail on today's numpy and OpenCV.
"""

from __future__ import annotations

import importlib
import pickle
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.trackers import PytrackingTracker, RefinedTracker
from test_integrations import DiMP
from tracking_fixtures import moving_box_frames, random_refiner

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "integrations"

pytestmark = pytest.mark.usefixtures("one_thread")


def prroi_pool_input_check(rois: torch.Tensor) -> None:
    """PreciseRoIPooling's own check (``PrRoIPool2DFunction.forward``), on the boxes DiMP and ATOM
    pool; their features are float32 already."""
    assert "FloatTensor" in rois.type(), (
        f"Precise RoI Pooling only takes float input, got torch.FloatTensor for features and "
        f"{rois.type()} for rois."
    )


class IoUNetDiMP(DiMP):
    """DiMP's state and its IoU-Net hand-over, as ``pytracking/tracker/dimp/dimp.py`` has them.

    ``initialize`` (inherited) makes ``pos`` ``[y_c, x_c]`` and ``target_sz`` ``[h, w]`` with
    ``torch.Tensor`` (float32, CPU), ``target_scale`` from the search area and
    ``base_target_sz = target_sz / target_scale``; no ``pos_iounet`` yet. ``track`` crops around
    ``pos``, pools the IoU-Net box (PreciseRoIPooling: float32 only), moves ``pos`` to the
    classifier's peak (here ``+[1, 2]``), and, when the IoU-Net keeps a box (``iou_keeps``; here
    a further ``+[0.5, 0.5]``), sets ``pos_iounet`` and ``pos`` to its centre; when it keeps none
    ``pos_iounet`` is left as it was. It ends with ``pos = pos_iounet.clone()`` if the tracker
    has one (ATOM: always), and reports ``[x_c - (w - 1)/2, y_c - (h - 1)/2, w, h]``.
    """

    atom = False

    def __init__(self, iou_keeps: list[bool]) -> None:
        super().__init__()
        self.iou_keeps = list(iou_keeps)
        self.search_centres: list[torch.Tensor] = []
        self.reported: list[list[float]] = []

    def initialize(self, image: NDArray[np.uint8], info: dict[str, Any]) -> dict[str, Any]:
        output = super().initialize(image, info)
        if self.atom:
            self.pos_iounet = self.pos.clone()
        return output

    def iounet_box(self, sample_pos: torch.Tensor, sample_scale: torch.Tensor) -> torch.Tensor:
        """``get_iounet_box``: the target box in the crop, ``[x, y, w, h]``."""
        box_center = (self.pos - sample_pos) / sample_scale + (self.img_sample_sz - 1) / 2
        box_sz = self.target_sz / sample_scale
        target_ul = box_center - (box_sz - 1) / 2
        return torch.cat([target_ul.flip((0,)), box_sz.flip((0,))])

    def track(self, image: NDArray[np.uint8], info: dict[str, Any] | None = None) -> dict[str, Any]:
        sample_pos = self.pos.round() if self.atom else self.pos.clone()
        self.search_centres.append(self.pos.clone())
        sample_scale = self.target_scale * torch.ones(1)
        prroi_pool_input_check(self.iounet_box(sample_pos, sample_scale).view(1, 4))
        self.pos = self.pos + torch.Tensor([1.0, 2.0])  # update_state(new_pos)
        if self.iou_keeps.pop(0):  # refine_target_box
            new_pos = self.pos + torch.Tensor([0.5, 0.5])
            self.pos_iounet = new_pos.clone()
            self.pos = new_pos.clone()
        if hasattr(self, "pos_iounet"):
            self.pos = self.pos_iounet.clone()
        new_state = torch.cat(
            (self.pos[[1, 0]] - (self.target_sz[[1, 0]] - 1) / 2, self.target_sz[[1, 0]])
        )
        self.reported.append(new_state.tolist())
        return {"target_bbox": self.reported[-1]}


class IoUNetATOM(IoUNetDiMP):
    """ATOM: ``pos_iounet`` from ``initialize`` on, crops around ``pos.round()``."""

    atom = True


def _centre(box: Any) -> list[float]:
    x, y, w, h = (float(v) for v in box)
    return [y + (h - 1) / 2, x + (w - 1) / 2]


@pytest.mark.parametrize("library_class", [IoUNetDiMP, IoUNetATOM])
def test_refined_centre_survives_a_frame_without_an_iou_net_box(
    library_class: type[IoUNetDiMP],
) -> None:
    frames, boxes = moving_box_frames(3, seed=21)
    library = library_class(iou_keeps=[True, False])
    tracker = PytrackingTracker(library)
    tracker.init(frames[0], boxes[0])
    unrefined = tracker.update(frames[1])
    iou_centre = library.pos_iounet.clone()
    refined = unrefined + np.array([6.0, -4.0, 2.0, 2.0])  # what a refiner might make of it
    tracker.set_state(frames[1], refined)
    torch.testing.assert_close(library.pos_iounet, library.pos)
    assert library.pos_iounet.dtype == torch.float32

    # The IoU-Net keeps no box: DiMP reports its pos_iounet, which must be the refined centre
    # its search crop was taken around, not frame 1's unrefined IoU-Net centre.
    reported = tracker.update(frames[2])
    torch.testing.assert_close(library.search_centres[-1], torch.tensor(_centre(refined)))
    np.testing.assert_allclose(_centre(reported), _centre(refined), atol=1e-4)
    assert not np.allclose(_centre(reported), iou_centre.tolist(), atol=1.0)


def test_pos_iounet_is_not_invented_for_trackers_without_it() -> None:
    """ToMP, and DiMP before its IoU-Net first kept a box, have no ``pos_iounet``."""
    frames, boxes = moving_box_frames(2, seed=22)
    library = IoUNetDiMP(iou_keeps=[False])
    tracker = PytrackingTracker(library)
    tracker.init(frames[0], boxes[0])
    tracker.set_state(frames[0], boxes[0] + np.array([3.0, 3.0, 0.0, 0.0]))
    assert not hasattr(library, "pos_iounet")
    reported = tracker.update(frames[1])  # DiMP keeps the classifier's position
    expected = np.array(_centre(boxes[0])) + np.array([3.0 + 1.0, 3.0 + 2.0])
    np.testing.assert_allclose(_centre(reported), expected, atol=1e-4)


def test_refined_dimp_keeps_float32_state_through_prroi_pooling() -> None:
    frames, boxes = moving_box_frames(4, seed=23)
    library = IoUNetDiMP(iou_keeps=[True, False, True])
    tracker = RefinedTracker(PytrackingTracker(library), random_refiner())
    tracker.init(frames[0], boxes[0])
    for frame in frames[1:]:  # the stand-in's PreciseRoIPooling check raises on float64
        tracker.update(frame)
        for name in ("pos", "target_sz", "target_scale", "pos_iounet"):
            assert getattr(library, name).dtype == torch.float32, name


def _code_block(guide: str, heading: str, language: str = "python") -> str:
    """The first ``language`` block under ``heading`` in ``docs/integrations/<guide>``."""
    section = (GUIDES / guide).read_text().split(f"{heading}\n", 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match is not None, f"no {language} block under {heading!r} in {guide}"
    return match.group(1)


class _RgbRefiner:
    """``Refiner`` as the guide's snippet uses it, with random weights instead of a download."""

    @staticmethod
    def from_pretrained(**options: Any) -> Refiner:
        torch.manual_seed(0)
        network = AlphaRefineNet(ModelConfig(backbone="resnet18"))
        return Refiner.from_network(network, device="cpu", **options)


def test_pytracking_guide_snippet_without_the_adapter_keeps_dimp_running() -> None:
    """The guide's hand-written loop keeps DiMP's float32 state (PreciseRoIPooling checks it on
    the next frame) and its ``pos_iounet`` in step with the refined ``pos``."""
    frames, boxes = moving_box_frames(4, seed=24)
    rgb = [np.ascontiguousarray(frame[..., ::-1]) for frame in frames]
    dimp = IoUNetDiMP(iou_keeps=[True, False, False])
    x, y, w, h = (float(v) for v in boxes[0])
    namespace: dict[str, Any] = {
        "Refiner": _RgbRefiner,
        "dimp": dimp,
        "image_rgb": rgb[0],
        "frames": rgb[1:],
        "x": x,
        "y": y,
        "w": w,
        "h": h,
    }
    exec(_code_block("pytracking.md", "## Without the adapter"), namespace)
    assert len(dimp.reported) == 3
    assert dimp.pos.dtype == torch.float32
    # Frames 2 and 3 keep no IoU-Net box: DiMP reports the refined centre its crop was taken
    # around, not frame 1's unrefined IoU-Net centre.
    for frame in (1, 2):
        reported = torch.tensor(_centre(dimp.reported[frame]))
        torch.testing.assert_close(reported, dimp.search_centres[frame])


# --- pysot's SiamMask on today's numpy and OpenCV ----------------------------------------------

# The two lines of pysot/tracker/siammask_tracker.py (d04028f, lines 30 and 40) that fail on
# numpy >= 1.24 and OpenCV 4.10+/5.x, in a module of the same path and the same shape.
SIAMMASK_STAND_IN = """\
import cv2
import numpy as np


def crop_back_mapping(a, b, c, d):
    mapping = np.array([[a, 0, c],
                        [0, b, d]]).astype(np.float)
    return mapping


def contours_of(target_mask):
    if cv2.__version__[-5] == '4':
        contours, _ = cv2.findContours(target_mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    else:
        _, contours, _ = cv2.findContours(target_mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return contours
"""


def _run_stand_in(path: Path) -> tuple[Any, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 4:12] = 1
    mapping = namespace["crop_back_mapping"](2.0, 3.0, -1.0, -2.0)
    contours = namespace["contours_of"](mask)
    return mapping, contours


@pytest.mark.skipif(shutil.which("sed") is None, reason="the guide's fix uses sed")
@pytest.mark.parametrize("opencv_version", ["4.10.0", "4.11.0", "5.0.0"])
def test_pysot_guide_fixes_siammask_for_numpy_2_and_opencv_4_10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, opencv_version: str
) -> None:
    module = tmp_path / "pysot" / "tracker" / "siammask_tracker.py"
    module.parent.mkdir(parents=True)
    module.write_text(SIAMMASK_STAND_IN)
    # findContours of the installed OpenCV (>= 4) returns two values, as 4.10+ and 5.x do.
    monkeypatch.setattr(cv2, "__version__", opencv_version)
    if not hasattr(np, "float"):
        with pytest.raises(AttributeError, match="float"):
            _run_stand_in(module)
    with monkeypatch.context() as patch:  # the numpy before 1.24 has np.float
        patch.setattr(np, "float", np.float64, raising=False)
        with pytest.raises(ValueError, match="not enough values to unpack"):
            _run_stand_in(module)

    fix = _code_block("pysot.md", "### SiamMask on today's numpy and OpenCV", "bash")
    subprocess.run(["bash", "-c", fix], cwd=tmp_path, check=True)
    mapping, contours = _run_stand_in(module)
    assert mapping.dtype == np.float64
    assert len(contours) == 1
    x, y, w, h = cv2.boundingRect(contours[0])
    assert (x, y, w, h) == (4, 5, 8, 10)

    # The example's --help gives the same commands.
    example = (ROOT / "examples" / "pysot_siamrpn.py").read_text().replace("\\\n", " ")
    example = " ".join(example.split())
    for command in fix.replace("\\\n", " ").splitlines():
        assert " ".join(command.split()) in example, command


# --- pytracking on torch >= 2.6 and torchvision >= 0.13 ----------------------------------------


class NetConstructor:
    """Stands for ``ltr.admin.model_constructor.NetConstructor``, which pytracking's network files
    pickle next to the weights."""

    def __init__(self, fun_name: str, fun_module: str) -> None:
        self.fun_name, self.fun_module = fun_name, fun_module


def test_pytracking_guide_loads_pickled_networks_on_torch_2_6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tomp50.pth.tar"
    constructor = NetConstructor("tompnet50", "ltr.models.tracking.tompnet")
    torch.save({"net": {"w": torch.ones(2)}, "constructor": constructor}, path)
    monkeypatch.delenv("TORCH_FORCE_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    # ltr/admin/loading.py's torch_load_legacy: torch.load(path, map_location='cpu')
    if tuple(int(v) for v in torch.__version__.split(".")[:2]) >= (2, 6):
        with pytest.raises(pickle.UnpicklingError, match="NetConstructor"):
            torch.load(path, map_location="cpu")
    guide = (GUIDES / "pytracking.md").read_text()
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 python examples/pytracking_dimp.py" in guide
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with warnings.catch_warnings():  # torch says it honours the variable; that is the point
        warnings.simplefilter("ignore", UserWarning)
        checkpoint = torch.load(path, map_location="cpu")
    assert checkpoint["constructor"].fun_name == "tompnet50"


@pytest.mark.skipif(shutil.which("sed") is None, reason="the guide's fix uses sed")
def test_pytracking_guide_fixes_the_model_urls_import(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    module = tmp_path / "ltr" / "models" / "backbone" / "resnet.py"
    module.parent.mkdir(parents=True)
    # ltr/models/backbone/resnet.py, lines 4-5 at 7eb9e74.
    module.write_text(
        "import torch.utils.model_zoo as model_zoo\n"
        "from torchvision.models.resnet import model_urls\n"
    )
    fix = _code_block("pytracking.md", "### On today's torch and torchvision", "bash")
    sed = "\n".join(line for line in fix.replace("\\\n", " ").splitlines() if "sed " in line)
    namespace: dict[str, Any] = {}
    torchvision = importlib.import_module("torchvision.models.resnet")
    if not hasattr(torchvision, "model_urls"):  # torchvision >= 0.13
        with pytest.raises(ImportError, match="model_urls"):
            exec(module.read_text(), namespace)
    subprocess.run(["bash", "-c", sed], cwd=tmp_path, check=True)
    exec(module.read_text(), namespace)
    assert namespace["model_urls"] == {}
