"""Small helpers shared by the dataset readers."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from pathlib import Path

from alpha_refine.data.annotations import natural_key

UnitFilter = Callable[[str], bool]


class DatasetWarning(UserWarning):
    """A dataset quirk was handled by a guess or an entry was skipped (the message says which)."""


def unit_filter(names: Collection[str] | None) -> UnitFilter:
    """Pre-filter on the folder ("unit") a sequence comes from, so unwanted ones are not parsed.

    A unit is kept if it is a wanted name or a wanted name without its ``-k``/``_k`` target
    suffix (OTB ``Jogging-1``, DAVIS ``dogs-jump_2``); ``load_dataset`` filters exactly after.
    """
    if names is None:
        return lambda unit: True
    units = set(names) | {re.sub(r"[-_]\d+$", "", n) for n in names}
    return lambda unit: unit in units


def subdirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` in natural name order."""
    return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name))
