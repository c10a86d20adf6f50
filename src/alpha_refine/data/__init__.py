"""Tracking data: sequences with lazily loaded frames, dataset readers and generators."""

from alpha_refine.data.sequence import Sequence, read_image, read_mask

__all__ = ["Sequence", "read_image", "read_mask"]
