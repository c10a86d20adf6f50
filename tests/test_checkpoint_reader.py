"""The restricted checkpoint reader: formats, placeholders, safety and error messages."""

from __future__ import annotations

import builtins
import collections
import copy
import os
import pickle
import struct
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from alpha_refine.weights.published import (
    Placeholder,
    extract_state_dict,
    read_torch_checkpoint,
)
from fake_published import FORMATS, drop_ltr, ltr_modules, save_training_checkpoint

CORRUPT = r"truncated|corrupt|not a PyTorch checkpoint"


@dataclass
class Saved:
    paths: dict[str, Path]
    net: dict[str, torch.Tensor]
    optimizer: dict[str, Any]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """A training checkpoint shaped like the published one, in both formats."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 2, 5, 5)).square().mean().backward()
    optimizer.step()

    net = collections.OrderedDict(model.state_dict())
    base = torch.randn(4, 6)
    net["head.weight"] = base
    net["head.weight_t"] = base.t()  # non-contiguous, shares the storage
    net["head.bias"] = base[1, 2:5]  # offset into the same storage
    paths = save_training_checkpoint(
        tmp_path_factory.mktemp("fake_ltr"), net, optimizer.state_dict()
    )
    return Saved(
        paths=paths,
        net={key: value.clone() for key, value in net.items()},
        optimizer=copy.deepcopy(optimizer.state_dict()),
    )


def _assert_same(actual: Any, expected: Any) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor)
        assert actual.dtype == expected.dtype
        assert actual.shape == expected.shape
        assert torch.equal(actual, expected)
    elif isinstance(expected, dict):
        assert isinstance(actual, dict)
        assert list(actual) == list(expected)
        for key in expected:
            _assert_same(actual[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected)
        assert len(actual) == len(expected)
        for item, want in zip(actual, expected, strict=True):
            _assert_same(item, want)
    else:
        assert actual == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_reads_training_checkpoint_without_ltr(saved: Saved, fmt: str) -> None:
    assert not ltr_modules()
    checkpoint = read_torch_checkpoint(saved.paths[fmt])

    assert checkpoint["epoch"] == 40
    assert checkpoint["net_type"] == "SEcmnet"
    assert checkpoint["net_info"] is None
    net = checkpoint["net"]
    assert isinstance(net, dict)
    _assert_same(net, saved.net)
    assert net["1.num_batches_tracked"].dtype == torch.int64
    _assert_same(checkpoint["optimizer"], saved.optimizer)

    # Views saved together still share one storage, as with torch.load.
    weight, transposed = net["head.weight"], net["head.weight_t"]
    assert not transposed.is_contiguous()
    assert transposed.untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()

    assert not ltr_modules()


@pytest.mark.parametrize("fmt", FORMATS)
def test_foreign_objects_become_placeholders(saved: Saved, fmt: str) -> None:
    checkpoint = read_torch_checkpoint(saved.paths[fmt])

    constructor = checkpoint["constructor"]
    assert isinstance(constructor, Placeholder)
    assert constructor.qualified_name == "ltr.admin.model_constructor.NetConstructor"
    assert constructor.state["fun_name"] == "SEcm_resnet34"
    assert constructor.state["kwds"] == {"backbone_pretrained": True}

    settings = checkpoint["settings"]
    assert isinstance(settings, Placeholder)
    assert settings.qualified_name == "ltr.admin.settings.Settings"
    assert settings.state == {"batch_size": 32, "output_sz": (256, 256), "env": None}

    stats = checkpoint["stats"]
    assert isinstance(stats, dict)
    meter, value = stats["train"]["Loss/total"], stats["train"]["Loss/iou"]
    assert meter.qualified_name == "ltr.admin.stats.AverageMeter"
    assert meter.state["count"] == 4
    assert value.qualified_name == "ltr.admin.stats.StatValue"
    assert value.state == {"history": [1.0, 2.0], "version": 2}

    # Placeholders survive copying and pickling without the real classes.
    clone = pickle.loads(pickle.dumps(settings))
    assert clone.qualified_name == settings.qualified_name
    assert clone.state == settings.state
    assert copy.deepcopy(constructor).state == constructor.state
    assert not ltr_modules()


def test_never_imports_modules_named_in_the_file(
    saved: Saved, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An importable `ltr` that leaves a mark when imported: the reader must not touch it.
    marker = tmp_path / "imported"
    (tmp_path / "ltr").mkdir()
    (tmp_path / "ltr" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        for fmt in FORMATS:
            read_torch_checkpoint(saved.paths[fmt])
        assert not marker.exists()
        assert not ltr_modules()
    finally:
        drop_ltr()


class _SystemPayload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"echo pwned > {self.target}",))


class _EvalPayload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        code = f"open({str(self.target)!r}, 'w').write('pwned')"
        return (builtins.eval, (code,))


class _ShellPayload:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (subprocess.check_output, (["sh", "-c", f"echo pwned > {self.target}"],))


def _save_with_payload(folder: Path, payload: object, fmt: str) -> Path:
    """A checkpoint holding weights and ``payload``, written by torch.save in ``fmt``."""
    path = folder / "evil.pth"
    checkpoint = {"net": {"w": torch.ones(2)}, "evil": payload}
    torch.save(checkpoint, path, _use_new_zipfile_serialization=fmt == "zip")
    return path


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("payload", [_ShellPayload, _EvalPayload])
def test_malicious_reduce_is_not_executed(tmp_path: Path, fmt: str, payload: type) -> None:
    target = tmp_path / "pwned"
    path = _save_with_payload(tmp_path, payload(target), fmt)

    checkpoint = read_torch_checkpoint(path)

    assert not target.exists()
    evil = checkpoint["evil"]
    assert isinstance(evil, Placeholder)
    # pickle writes subprocess under its Python 2 name, commands
    assert evil.qualified_name in {"commands.check_output", "builtins.eval"}
    assert str(target) in str(evil.args[0])
    assert torch.equal(extract_state_dict(checkpoint)["w"], torch.ones(2))


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_naming_os_functions_is_refused(tmp_path: Path, fmt: str) -> None:
    # torch.load(weights_only=True) never lets os/posix/nt/sys globals be allowlisted, not even
    # as inert stand-ins, so such a file (only a hostile one names them) is refused whole.
    target = tmp_path / "pwned"
    path = _save_with_payload(tmp_path, _SystemPayload(target), fmt)

    with pytest.raises(ValueError, match=r"(posix|nt)\.system whose module (posix|nt) is blocked"):
        read_torch_checkpoint(path)

    assert not target.exists()


def test_plain_malicious_pickle_is_rejected(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_SystemPayload(target), protocol=2))

    with pytest.raises(ValueError, match="not a PyTorch checkpoint") as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)
    assert not target.exists()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "tensor",
    [
        torch.tensor([1.5, -2.25, 65504.0, 0.0], dtype=torch.float16),
        torch.tensor([1.5, -3.0], dtype=torch.bfloat16),
        torch.tensor([[2**62, -(2**62)], [0, -1]], dtype=torch.int64),
        torch.tensor([True, False, True]),
        torch.tensor([[-128, 127]], dtype=torch.int8),
        torch.tensor([0, 255], dtype=torch.uint8),
        torch.tensor(3.0, dtype=torch.float64),
        torch.empty(0, 3),
    ],
    ids=["fp16", "bf16", "int64", "bool", "int8", "uint8", "fp64-scalar", "empty"],
)
def test_dtypes_round_trip(tmp_path: Path, fmt: str, tensor: torch.Tensor) -> None:
    path = tmp_path / "tensor.pth"
    torch.save({"t": tensor}, path, _use_new_zipfile_serialization=fmt == "zip")

    loaded = read_torch_checkpoint(path)["t"]

    _assert_same(loaded, tensor)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_file(saved: Saved, tmp_path: Path, fmt: str) -> None:
    data = saved.paths[fmt].read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ValueError, match=CORRUPT) as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")

    with pytest.raises(ValueError, match="empty") as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("prefix", [b"", b"\x80\x02", b"PK\x03\x04"])
def test_random_bytes(tmp_path: Path, seed: int, prefix: bytes) -> None:
    path = tmp_path / "random.pth"
    path.write_bytes(prefix + np.random.default_rng(seed).bytes(4096))

    with pytest.raises(ValueError, match=CORRUPT) as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.pth"

    with pytest.raises(FileNotFoundError) as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


def test_top_level_must_be_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([torch.ones(1)], path)

    with pytest.raises(ValueError, match="expected a checkpoint dict") as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


# A hand-written legacy file exercises parts of the format that current torch no longer writes:
# storage views (view_metadata), CUDA locations and a foreign sys_info.


class _StorageRef:
    pass


class _TensorRef:
    def __init__(self, storage: _StorageRef, offset: int, size: tuple[int, ...]) -> None:
        self.storage, self.offset, self.size = storage, offset, size

    def __reduce__(self) -> tuple[Any, ...]:
        stride = (1,) * len(self.size)
        hooks: collections.OrderedDict[str, Any] = collections.OrderedDict()
        args = (self.storage, self.offset, self.size, stride, False, hooks)
        return (torch._utils._rebuild_tensor_v2, args)


def _write_legacy(
    path: Path,
    obj: Any,
    *,
    little_endian: bool = True,
    protocol: int = 1001,
    storage_header: int = 6,
) -> None:
    class LegacyPickler(pickle.Pickler):
        def persistent_id(self, item: Any) -> Any:
            if isinstance(item, _StorageRef):
                # As written by a GPU training run: a CUDA storage type and location.
                storage_type = torch.cuda.FloatStorage
                return ("storage", storage_type, "root", "cuda:0", 6, ("view", 2, 3))
            return None

    sys_info = {"protocol_version": protocol, "little_endian": little_endian, "type_sizes": {}}
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, protocol, sys_info):
            pickle.dump(header, file, protocol=2)
        LegacyPickler(file, protocol=2).dump(obj)
        pickle.dump(["root"], file, protocol=2)
        file.write(struct.pack("<q", storage_header))
        file.write(np.arange(6, dtype="<f4").tobytes())


def test_legacy_storage_views_and_cuda_location(tmp_path: Path) -> None:
    path = tmp_path / "views.pth"
    storage = _StorageRef()
    _write_legacy(path, {"a": _TensorRef(storage, 0, (3,)), "b": _TensorRef(storage, 1, (2,))})

    checkpoint = read_torch_checkpoint(path)
    first, second = checkpoint["a"], checkpoint["b"]

    # The view starts at element 2 of the root storage [0, 1, 2, 3, 4, 5].
    assert isinstance(first, torch.Tensor)
    assert isinstance(second, torch.Tensor)
    assert torch.equal(first, torch.tensor([2.0, 3.0, 4.0]))
    assert torch.equal(second, torch.tensor([3.0, 4.0]))
    assert first.device.type == "cpu"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"little_endian": False}, "big-endian"),
        ({"protocol": 1000}, "protocol version"),
        ({"storage_header": 7}, "wrong byte size"),
    ],
)
def test_legacy_header_checks(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    path = tmp_path / "bad.pth"
    _write_legacy(path, {"a": _TensorRef(_StorageRef(), 0, (3,))}, **options)

    with pytest.raises(ValueError, match=message) as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


def test_legacy_tensor_outside_storage(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    _write_legacy(path, {"a": _TensorRef(_StorageRef(), 1, (3,))})

    # torch's message: it would have to grow the storage to fit the tensor.
    with pytest.raises(ValueError, match="resize storage that is not resizable") as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)


def _rewrite_zip(source: Path, target: Path, replace: dict[str, bytes | None]) -> None:
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            suffix = info.filename.split("/", 1)[1]
            if suffix in replace:
                data = replace[suffix]
                if data is not None:
                    new.writestr(info.filename, data)
            else:
                new.writestr(info.filename, old.read(info))


def test_zip_big_endian_is_read(tmp_path: Path) -> None:
    # torch.load byte-swaps zip files written on big-endian machines; the values come back.
    values = torch.tensor([1.5, -2.0, 3.25], dtype=torch.float32)
    little, big = tmp_path / "little.pth", tmp_path / "big.pth"
    torch.save({"t": values}, little)
    swapped = values.numpy().astype(">f4").tobytes()
    _rewrite_zip(little, big, {"byteorder": b"big", "data/0": swapped})

    loaded = read_torch_checkpoint(big)["t"]

    _assert_same(loaded, values)


def test_zip_missing_storage_member(saved: Saved, tmp_path: Path) -> None:
    with zipfile.ZipFile(saved.paths["zip"]) as archive:
        first = next(n for n in archive.namelist() if "/data/" in n).split("/", 1)[1]
    path = tmp_path / "missing-member.pth"
    _rewrite_zip(saved.paths["zip"], path, {first: None})

    with pytest.raises(ValueError, match="corrupt") as info:
        read_torch_checkpoint(path)

    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "data/0" in str(info.value.__cause__)


def test_extract_state_dict_from_checkpoint(saved: Saved) -> None:
    checkpoint = read_torch_checkpoint(saved.paths["legacy"])

    state = extract_state_dict(checkpoint)

    assert list(state) == list(saved.net)
    _assert_same(state, saved.net)


def test_extract_state_dict_flat_and_alternative_keys() -> None:
    flat = {"conv.weight": torch.ones(2), "conv.bias": torch.zeros(2)}

    assert extract_state_dict(flat) == flat
    assert extract_state_dict({"state_dict": flat, "epoch": 3}) == flat
    assert extract_state_dict({"model": flat}) == flat


def test_extract_state_dict_strips_module_prefix() -> None:
    weight, bias = torch.ones(2), torch.zeros(2)

    state = extract_state_dict({"net": {"module.conv.weight": weight, "module.conv.bias": bias}})
    assert list(state) == ["conv.weight", "conv.bias"]
    assert state["conv.weight"] is weight

    # Only a prefix every key carries is stripped.
    mixed = {"module.conv.weight": weight, "head.bias": bias}
    assert list(extract_state_dict(mixed)) == list(mixed)


@pytest.mark.parametrize(
    ("obj", "found"),
    [
        ({"epoch": 1, "net": Placeholder()}, "'net' is <Placeholder"),
        ({"epoch": 1, "state_dict": {}}, "'state_dict' is dict"),
        ({}, "dict with keys []"),
        ([torch.ones(1)], "list"),
        ({"w": torch.ones(1), "epoch": 1}, "'w', 'epoch'"),
    ],
)
def test_extract_state_dict_reports_what_it_found(obj: object, found: str) -> None:
    with pytest.raises(ValueError, match="no state dict") as info:
        extract_state_dict(obj)

    assert found in str(info.value)
