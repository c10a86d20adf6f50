"""How a prepared network runs: the engines behind :class:`alpha_refine.Refiner`.

================================  =============================================================
module                            job
================================  =============================================================
:mod:`~.engine`                   the engine protocol, BatchNorm folding, the PyTorch engine
:mod:`~.crop`                     the batched on-device crop (bit-identical to OpenCV's)
:mod:`~.graphs`                   the ONNX graphs' names, inputs and outputs; the ``onnx`` extra
:mod:`~.export`                   ONNX export of the network
:mod:`~.quantize`                 int8 quantization of the exported graphs
:mod:`~.guard`                    the int8 check: int8 against float32, for these weights
:mod:`~.onnx_engine`              the ONNX Runtime engine (graphs from the cache or exported)
:mod:`~.select`                   what ``backend="auto"``/``precision="auto"`` pick here
:mod:`~.build`                    the refiner's engine: options resolved, engine built, fallback
:mod:`~.cache`                    the on-disk cache of exported and quantized graphs
:mod:`~.ship`                     int8 calibration ranges shipped for the embedded model
================================  =============================================================

Imports run one way: ``crop``, ``graphs``, ``engine``, ``select`` and ``cache`` need nothing
here, ``quantize`` and ``guard`` need ``graphs``, ``export`` needs ``engine``, ``graphs`` and
``quantize``, ``ship`` needs ``graphs``, ``quantize`` and ``export``, ``onnx_engine`` needs
``engine``, ``graphs``, ``cache``, ``select``, ``guard``, ``export``, ``quantize`` and ``ship``,
and ``build`` needs ``engine``, ``graphs``, ``select`` and (lazily) ``onnx_engine``.
The public ONNX entry point stays :mod:`alpha_refine.onnx`.
"""
