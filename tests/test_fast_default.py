"""What ``from_pretrained()`` gives by default: the automatic backend and precision (the int8
check that decides int8 per weights is tested in ``test_int8_guard.py``), the on-disk graph
cache (corrupt, stale, read-only, off) and the int8 ranges shipped for the embedded model.
Export is slow, so one random ResNet-18 is exported once per module and the exporter is
replaced by a lookup of that export."""

from __future__ import annotations

import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_refine import AlphaRefineNet, ModelConfig, Refiner
from alpha_refine.runtime import cache, select
from alpha_refine.runtime.graphs import onnx_available
from alpha_refine.runtime.select import BackendFallbackWarning, choose_backend

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="onnx is not installed")


# --- the rule -----------------------------------------------------------------------------


@pytest.fixture
def auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """``backend="auto"`` as a user gets it (the test suite pins torch otherwise)."""
    monkeypatch.delenv(select.BACKEND_ENV, raising=False)


@pytest.mark.parametrize(
    ("device", "backend", "precision", "compile", "vnni", "expected"),
    [
        ("cpu", "auto", "auto", False, True, ("onnxruntime", "int8")),
        ("cpu", "auto", "auto", False, False, ("onnxruntime", "float32")),
        ("cpu", "auto", "float32", False, True, ("onnxruntime", "float32")),
        ("cpu", "onnxruntime", "auto", False, True, ("onnxruntime", "int8")),
        ("cpu", "torch", "auto", False, True, ("torch", "float32")),
        ("cuda", "auto", "auto", False, True, ("torch", "float32")),
        ("cpu", "auto", "auto", True, True, ("torch", "float32")),
        ("cpu", "auto", "bfloat16", False, True, ("torch", "bfloat16")),
    ],
)
def test_backend_rule(
    auto: None,
    monkeypatch: pytest.MonkeyPatch,
    device: str,
    backend: str,
    precision: str,
    compile: bool,
    vnni: bool,
    expected: tuple[str, str],
) -> None:
    monkeypatch.setattr(select, "cpu_has_vnni", lambda: vnni)
    choice = choose_backend(device, backend, precision, compile, onnx_installed=True)
    assert (choice.backend, choice.precision) == expected
    assert choice.reason.startswith("explicit" if backend != "auto" else "auto")


def test_missing_onnxruntime_falls_back_to_torch_with_one_warning(auto: None) -> None:
    with pytest.warns(BackendFallbackWarning, match="onnxruntime|ONNX Runtime") as caught:
        choice = choose_backend("cpu", "auto", "auto", False, onnx_installed=False)
    assert len(caught) == 1
    assert (choice.backend, choice.precision) == ("torch", "float32")


def test_the_environment_variable_changes_only_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(select.BACKEND_ENV, "onnxruntime")
    assert choose_backend("cpu", "auto", "auto", False, True).backend == "onnxruntime"
    assert choose_backend("cpu", "torch", "auto", False, True).backend == "torch"
    monkeypatch.setenv(select.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match=select.BACKEND_ENV):
        choose_backend("cpu", "auto", "auto", False, True)


def test_cpu_flags_read_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_vnni\n\nflags : other\n")
    assert select.cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_vnni"}
    assert select.VNNI_FLAGS & select.cpu_flags(cpuinfo)
    assert select.cpu_flags(tmp_path / "missing") == frozenset()


def test_repr_states_the_choice_and_the_fallback(
    auto: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from alpha_refine.runtime import graphs

    torch.manual_seed(0)
    network = AlphaRefineNet(ModelConfig(backbone="resnet18"))
    monkeypatch.setattr(graphs, "onnx_available", lambda: False)
    with pytest.warns(BackendFallbackWarning):
        refiner = Refiner.from_network(network, device="cpu", backend="auto", precision="auto")
    assert refiner.backend == "torch" and refiner.precision == "float32"
    assert "backend='torch'" in repr(refiner) and "onnxruntime missing" in repr(refiner)
    explicit = Refiner.from_network(network, device="cpu")
    assert "chosen_by='explicit'" in repr(explicit)


def test_a_failing_export_falls_back_to_torch_only_when_chosen_automatically(
    auto: None, monkeypatch: pytest.MonkeyPatch, network: AlphaRefineNet
) -> None:
    from alpha_refine.runtime import onnx_engine

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(onnx_engine.OnnxRuntimeEngine, "from_network", broken)
    monkeypatch.setattr(select, "cpu_has_vnni", lambda: False)
    with pytest.warns(BackendFallbackWarning, match="exporter broke"):
        refiner = Refiner.from_network(network, device="cpu", backend="auto", precision="auto")
    assert (refiner.backend, refiner.precision) == ("torch", "float32")
    assert "onnxruntime failed" in repr(refiner)
    with pytest.raises(RuntimeError, match="exporter broke"):  # asked for: no fallback
        Refiner.from_network(network, device="cpu", backend="onnxruntime")


# --- the cache ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_network() -> AlphaRefineNet:
    torch.manual_seed(1)
    return AlphaRefineNet(ModelConfig(backbone="resnet18")).eval()


@pytest.fixture(scope="module")
def exported(small_network: AlphaRefineNet) -> dict[str, bytes]:
    if not onnx_available():
        pytest.skip("onnx is not installed")
    from alpha_refine.runtime.export import export_graphs

    return export_graphs(small_network)


@pytest.fixture
def exports(
    exported: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> list[int]:
    """Count the exports (served from the module's one real export); a fresh cache folder."""
    from alpha_refine.runtime import onnx_engine

    calls: list[int] = []

    def export(network: AlphaRefineNet) -> dict[str, bytes]:
        calls.append(1)
        return exported

    monkeypatch.setattr(onnx_engine, "export_graphs", export)
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    return calls


def _build(network: AlphaRefineNet) -> Refiner:
    return Refiner.from_network(network, backend="onnxruntime", precision="float32")


def _entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "onnx").glob("*.zip"))


@needs_onnx
def test_second_build_reads_the_cache(
    small_network: AlphaRefineNet, exports: list[int], tmp_path: Path, frame: np.ndarray
) -> None:
    first = _build(small_network)
    (entry,) = _entries(tmp_path)
    assert entry.name.startswith(f"{first.fingerprint}-float32-")
    with zipfile.ZipFile(entry) as archive:
        key = json.loads(archive.read("manifest.json"))["key"]
    assert key["fingerprint"] == first.fingerprint and key["graph_version"] == cache.GRAPH_VERSION
    second = _build(small_network)
    assert exports == [1]  # exported once
    for refiner in (first, second):
        refiner.initialize(frame, (100, 80, 80, 80))
    np.testing.assert_array_equal(
        first.refine(frame, (104, 78, 80, 84)).box, second.refine(frame, (104, 78, 80, 84)).box
    )


@needs_onnx
@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_entry_is_rebuilt_never_trusted(
    small_network: AlphaRefineNet, exports: list[int], tmp_path: Path, damage: str
) -> None:
    _build(small_network)
    (entry,) = _entries(tmp_path)
    blob = entry.read_bytes()
    with zipfile.ZipFile(entry) as archive:
        blob_names = archive.namelist()
    if damage == "truncate":
        entry.write_bytes(blob[: len(blob) // 2])
    else:  # same length, bytes flipped in the middle of a graph: only the CRC can tell
        middle = len(blob) // 2
        entry.write_bytes(
            blob[:middle]
            + bytes(b ^ 0xFF for b in blob[middle : middle + 64])
            + blob[middle + 64 :]
        )
    with pytest.warns(cache.CacheWarning, match="rebuilding"):
        _build(small_network)
    assert exports == [1, 1]
    with zipfile.ZipFile(entry) as archive:  # rewritten whole (its timestamps are new)
        assert archive.testzip() is None and len(archive.namelist()) == len(blob_names)
    _build(small_network)
    assert exports == [1, 1]


@needs_onnx
def test_a_stale_entry_is_not_used(
    small_network: AlphaRefineNet,
    exports: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _build(small_network)
    monkeypatch.setattr(cache, "GRAPH_VERSION", cache.GRAPH_VERSION + 1)
    _build(small_network)
    assert exports == [1, 1] and len(_entries(tmp_path)) == 2


@needs_onnx
def test_a_read_only_cache_builds_in_memory_with_one_warning(
    small_network: AlphaRefineNet,
    exports: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):  # root ignores the mode: make the write fail instead

            def refuse(*args: object, **kwargs: object) -> None:
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(cache, "write_atomic", refuse)
        monkeypatch.setattr(cache, "_warned_unwritable", set())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            refiners = [_build(small_network), _build(small_network)]
        cache_warnings = [w for w in caught if issubclass(w.category, cache.CacheWarning)]
        assert len(cache_warnings) == 1 and "cannot write" in str(cache_warnings[0].message)
        assert exports == [1, 1] and not _entries(tmp_path)
        assert all(r.backend == "onnxruntime" for r in refiners)
    finally:
        folder.chmod(stat.S_IRWXU)


def test_cache_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "alpha-refine"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == Path.home() / ".cache" / "alpha-refine"
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "here"))
    assert cache.cache_dir() == tmp_path / "here"
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.cache_dir() is None


@needs_onnx
def test_cache_off_writes_nothing(
    small_network: AlphaRefineNet,
    exports: list[int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    _build(small_network)
    _build(small_network)
    assert exports == [1, 1] and not (tmp_path / "cache").exists()


def test_an_entry_keeps_its_info_readable_without_the_graphs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    key = cache.graph_key("2222222222222222", "int8")
    verdict = {"int8_check": {"median_deviation": 0.001}}
    entry = cache.store_graphs(key, {"refine": b"graph"}, info=verdict)
    assert entry is not None and cache.load_info(key) == verdict
    assert cache.load_graphs(key) == {"refine": b"graph"}
    plain = cache.graph_key("3333333333333333", "float32")
    cache.store_graphs(plain, {"refine": b"graph"})
    assert (
        cache.load_info(plain) is None and cache.load_info(cache.graph_key("4" * 16, "x")) is None
    )


def test_reading_an_entry_marks_it_used_and_writing_prunes_idle_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "cache"))
    day = 24 * 60 * 60
    old_key = cache.graph_key("0000000000000000", "float32")
    old_entry = cache.store_graphs(old_key, {"refine": b"old graph"})
    assert old_entry is not None and cache.load_graphs(old_key) == {"refine": b"old graph"}
    folder = old_entry.parent
    leftover = folder / f".{old_entry.name}.abc.tmp"  # an interrupted write
    leftover.write_bytes(b"partial")
    recent = folder / f".{old_entry.name}.def.tmp"  # a write in progress
    recent.write_bytes(b"partial")
    long_ago = os.stat(old_entry).st_mtime - (cache.MAX_IDLE_DAYS + 1) * day
    for path in (old_entry, leftover):
        os.utime(path, (long_ago, long_ago))

    assert cache.load_graphs(old_key) is not None  # read: used again, so kept
    assert os.stat(old_entry).st_mtime > long_ago
    new_entry = cache.store_graphs(cache.graph_key("1111111111111111", "float32"), {"a": b"b"})
    assert new_entry is not None and old_entry.exists() and not leftover.exists()
    assert recent.exists()

    os.utime(old_entry, (long_ago, long_ago))  # now idle for too long
    assert cache.prune(folder, keep=new_entry) == [old_entry]
    assert sorted(folder.iterdir()) == sorted([new_entry, recent])


# --- shipped int8 ranges ------------------------------------------------------------------


@needs_onnx
def test_shipped_ranges_skip_calibration_and_a_stale_file_is_ignored(
    small_network: AlphaRefineNet,
    exports: list[int],
    exported: dict[str, bytes],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alpha_refine.runtime import quantize, ship
    from alpha_refine.weights.store import weights_fingerprint

    calibration = quantize.calibration_crops(
        quantize.synthetic_calibration_sequences(2), searches_per_sequence=1
    )
    _, ranges = quantize.quantize_and_calibrate(exported, calibration)
    fingerprint = weights_fingerprint(small_network)
    shipped = tmp_path / "int8_ranges.json"
    content = {"fingerprint": fingerprint, "signature": ship.graph_signature(exported)}
    shipped.write_text(json.dumps({**content, "ranges": ranges}))
    assert ship.shipped_ranges(fingerprint, exported, shipped) == ranges
    assert ship.shipped_ranges("0" * 16, exported, shipped) is None  # other weights
    shipped.write_text(json.dumps({**content, "signature": "x", "ranges": ranges}))
    assert ship.shipped_ranges(fingerprint, exported, shipped) is None  # another exporter
    shipped.write_text(json.dumps({**content, "ranges": ranges}))

    def no_calibration(*args: object, **kwargs: object) -> None:
        raise AssertionError("calibrated although ranges were shipped")

    monkeypatch.setattr(ship, "SHIPPED_RANGES", shipped)
    monkeypatch.setattr(quantize, "calibration_crops", no_calibration)
    refiner = Refiner.from_network(small_network, backend="onnxruntime", precision="int8")
    assert refiner.precision == "int8" and exports == [1]


def test_the_shipped_ranges_file_is_small() -> None:
    from alpha_refine.runtime.ship import SHIPPED_RANGES

    assert SHIPPED_RANGES.is_file() and SHIPPED_RANGES.stat().st_size < 1_000_000
    shipped = json.loads(SHIPPED_RANGES.read_text())
    assert {"fingerprint", "signature", "calibration", "ranges"} <= set(shipped)


def test_ranges_are_calibrated_on_still_images_and_videos(tmp_path: Path) -> None:
    import cv2

    from alpha_refine.runtime import ship
    from tracking_fixtures import write_plain_dataset

    stills = tmp_path / "stills"
    for folder in ("images", "masks"):
        (stills / folder).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(3):
        cv2.imwrite(str(stills / "images" / f"{index}.jpg"), rng.integers(0, 255, (60, 80, 3)))
        mask = np.zeros((60, 80), np.uint8)
        mask[10 + index : 40, 20 : 50 + index] = 255
        cv2.imwrite(str(stills / "masks" / f"{index}.png"), mask)
    videos = write_plain_dataset(tmp_path / "videos", ["a", "b"], 4)
    crops, description = ship.real_calibration([f"plain:{videos}"], stills)
    assert len(crops.templates) == 3 + 2 and len(crops.searches) == 3 + 2 * 3
    assert description.startswith("3 still images of") and "2 sequences of plain:" in description


@needs_onnx
def test_float_stem_leaves_out_exactly_the_normalisation_and_the_stem(
    exported: dict[str, bytes],
) -> None:
    import onnx

    from alpha_refine.runtime.quantize import trunk_nodes

    model = onnx.load_from_string(exported["refine"])
    convolutions = {node.name: node for node in model.graph.node if node.op_type == "Conv"}
    left_out = set(trunk_nodes(model)) - set(trunk_nodes(model, float_stem=True))
    assert len(left_out) == 2 and left_out <= set(convolutions)
    weights = sorted(convolutions[name].input[1] for name in left_out)
    stem = next(name for name in weights if "conv1" in name)
    assert "backbone" in stem, weights
