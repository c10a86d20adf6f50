"""How a prepared network runs: the engines behind :class:`alpha_refine.Refiner`.

================================  =============================================================
module                            job
================================  =============================================================
:mod:`~.engine`                   the engine protocol, BatchNorm folding, the PyTorch engine
:mod:`~.crop`                     the batched on-device crop (bit-identical to OpenCV's)
:mod:`~.graphs`                   the ONNX graphs' names, inputs and outputs; the ``onnx`` extra
:mod:`~.export`                   ONNX export of the network
:mod:`~.quantize`                 int8 quantization of the exported graphs
:mod:`~.onnx_engine`              the ONNX Runtime engine
================================  =============================================================

Imports run one way: ``crop``, ``graphs`` and ``engine`` need nothing here, ``quantize`` needs
``graphs``, ``export`` needs ``engine``, ``graphs`` and ``quantize``, and ``onnx_engine`` needs
``engine``, ``graphs`` and ``export``.
The public ONNX entry point stays :mod:`alpha_refine.onnx`.
"""
