"""Tracking data: sequences with lazily loaded frames, dataset readers and generators."""

from alpha_refine.data._common import DatasetWarning
from alpha_refine.data.annotations import read_boxes
from alpha_refine.data.datasets import (
    DATASET_KINDS,
    load_dataset,
    load_frames,
    load_got10k,
    load_lasot,
    load_otb,
    load_plain,
    load_trackingnet,
    load_uav123,
)
from alpha_refine.data.frames import frame_files, iter_frames
from alpha_refine.data.segmentation import MaskBoxSequence, load_davis, load_youtubevos
from alpha_refine.data.sequence import Sequence, read_image, read_mask
from alpha_refine.data.vot import load_vot

__all__ = [
    "DATASET_KINDS",
    "DatasetWarning",
    "MaskBoxSequence",
    "Sequence",
    "frame_files",
    "iter_frames",
    "load_dataset",
    "load_davis",
    "load_frames",
    "load_got10k",
    "load_lasot",
    "load_otb",
    "load_plain",
    "load_trackingnet",
    "load_uav123",
    "load_vot",
    "load_youtubevos",
    "read_boxes",
    "read_image",
    "read_mask",
]
