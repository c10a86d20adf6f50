"""The Alpha-Refine network, one module per stage (backbone, fusion, heads)."""

from alpha_refine.model.network import AlphaRefineNet, RefinementOutput

__all__ = ["AlphaRefineNet", "RefinementOutput"]
