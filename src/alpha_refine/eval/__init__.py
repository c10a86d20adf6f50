"""Evaluation: tracking metrics under named toolkit conventions (got10k, pysot, pytracking)."""

from alpha_refine.eval.metrics import (
    CONVENTIONS,
    Convention,
    DatasetScores,
    SequenceScores,
    center_error,
    evaluate_dataset,
    evaluate_sequence,
    get_convention,
    iou,
    normalized_center_error,
    summarize,
)

__all__ = [
    "CONVENTIONS",
    "Convention",
    "DatasetScores",
    "SequenceScores",
    "center_error",
    "evaluate_dataset",
    "evaluate_sequence",
    "get_convention",
    "iou",
    "normalized_center_error",
    "summarize",
]
