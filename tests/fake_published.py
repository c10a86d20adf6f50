"""Checkpoints shaped like the authors' training files, for tests.

The published checkpoint holds objects of the authors' training package ``ltr``, which users do not
have. ``save_training_checkpoint`` writes a stand-in ``ltr`` package to a temporary folder, pickles
a checkpoint with its objects in both ``torch.save`` formats, and removes the package again, so the
reader under test must cope without it.
"""

from __future__ import annotations

import collections
import importlib
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

FORMATS = ("legacy", "zip")

FAKE_LTR = {
    "ltr/__init__.py": "",
    "ltr/admin/__init__.py": "",
    "ltr/admin/model_constructor.py": """
        class NetConstructor:
            def __init__(self, fun_name, fun_module, args, kwds):
                self.fun_name = fun_name
                self.fun_module = fun_module
                self.args = args
                self.kwds = kwds
    """,
    "ltr/admin/settings.py": """
        class Settings:
            def __init__(self):
                self.batch_size = 32
                self.output_sz = (256, 256)
                self.env = None
    """,
    "ltr/admin/stats.py": """
        class AverageMeter:
            def __init__(self):
                self.val, self.avg, self.sum, self.count = 0.5, 0.25, 1.0, 4

        class StatValue:
            def __init__(self):
                self.history = [1.0, 2.0]

            def __getstate__(self):
                return {"history": list(self.history), "version": 2}

            def __setstate__(self, state):
                self.history = state["history"]
    """,
}


def drop_ltr() -> None:
    for name in ltr_modules():
        del sys.modules[name]


def ltr_modules() -> list[str]:
    return [name for name in sys.modules if name == "ltr" or name.startswith("ltr.")]


def save_training_checkpoint(
    root: Path,
    net: Mapping[str, torch.Tensor],
    optimizer_state: dict[str, Any] | None = None,
    stem: str = "SEcmnet_ep0040",
) -> dict[str, Path]:
    """Write ``{stem}-legacy.pth.tar`` and ``{stem}-zip.pth.tar`` into ``root``; return both."""
    for relative, source in FAKE_LTR.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(textwrap.dedent(source))
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        constructor = importlib.import_module("ltr.admin.model_constructor")
        settings = importlib.import_module("ltr.admin.settings")
        stats = importlib.import_module("ltr.admin.stats")
        checkpoint = {
            "epoch": 40,
            "actor_type": "SEcm_Actor",
            "net_type": "SEcmnet",
            "net": collections.OrderedDict(net),
            "net_info": None,
            "constructor": constructor.NetConstructor(
                "SEcm_resnet34", "ltr.models.SEcm", (), {"backbone_pretrained": True}
            ),
            "optimizer": optimizer_state or {"state": {}, "param_groups": []},
            "stats": {
                "train": collections.OrderedDict(
                    [("Loss/total", stats.AverageMeter()), ("Loss/iou", stats.StatValue())]
                )
            },
            "settings": settings.Settings(),
        }
        paths = {fmt: root / f"{stem}-{fmt}.pth.tar" for fmt in FORMATS}
        torch.save(checkpoint, paths["legacy"], _use_new_zipfile_serialization=False)
        torch.save(checkpoint, paths["zip"])
    finally:
        sys.path.remove(str(root))
        drop_ltr()
        importlib.invalidate_caches()
    return paths
