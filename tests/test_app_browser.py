"""``alpha-refine app`` in a real browser: headless Chromium (Debian's ``chromium``) driven by
Playwright against the app served on a free loopback port in this process.

Skipped where Gradio, Playwright or Chromium is missing; CI installs all three. The tracker is a
deterministic stand-in for MIL (MIL draws random samples), so the boxes can be compared with the
demo's. With ``ALPHA_REFINE_SCREENSHOT=path.png`` the last test runs the real MIL and saves the
page's picture there (docs/assets/app-screenshot.png).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = os.environ.get("ALPHA_REFINE_CHROMIUM") or shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("no Chromium here (apt-get install chromium)", allow_module_level=True)

from alpha_refine.app import Limits, running_app  # noqa: E402
from alpha_refine.demo import demo_sequence, run_demo  # noqa: E402
from alpha_refine.eval.tracking import RefinerOptions, load_refiner  # noqa: E402
from alpha_refine.refiner import Refiner  # noqa: E402
from test_app import TemplateTracker, write_clip  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 120_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _load(flip: bool) -> Refiner:
    refiner = load_refiner("default", "cpu", RefinerOptions(flip=flip))
    assert refiner is not None
    return refiner


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The app on a free port with the deterministic stand-in tracker; (address, its folder)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHA_REFINE_BACKEND", "torch")
        patch.setenv("ALPHA_REFINE_CACHE", str(tmp_path_factory.mktemp("graph-cache")))
        patch.setattr("alpha_refine.demo.create_tracker", lambda name, **_: TemplateTracker())
        with running_app(_load, port=_free_port(), limits=Limits()) as address:
            yield address, Path(os.environ["GRADIO_TEMP_DIR"])
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, app: tuple[str, Path], tmp_path: Path) -> Iterator[Any]:
    """A new browser session (its own context) on the app."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    tab.goto(app[0])
    yield tab
    context.close()


def _status(page: Any) -> Any:
    return page.locator("#status")


def _load_generated(page: Any) -> None:
    page.get_by_role("button", name="Use the generated clip").click()
    sync_api.expect(_status(page)).to_contain_text("Loaded generated clip: 100 frames")


def _draw(page: Any, first: tuple[int, int], second: tuple[int, int]) -> None:
    """Click two corners (natural pixels of the first frame) with mouse events."""
    image = page.locator("#first-frame img")
    sync_api.expect(image).to_be_visible()
    bounds = image.bounding_box()
    width, height = image.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    scale = min(bounds["width"] / width, bounds["height"] / height, 1.0)
    for x, y in (first, second):
        page.mouse.move(bounds["x"] + (x + 0.5) * scale, bounds["y"] + (y + 0.5) * scale)
        page.mouse.down()
        page.mouse.up()
        expected = "First corner" if (x, y) == first else "Box"
        sync_api.expect(_status(page)).to_contain_text(expected)


def _box(page: Any) -> list[float]:
    text = page.locator("#box textarea, #box input").first.input_value()
    return [float(v) for v in text.split(",")]


def _download(page: Any, name: str) -> bytes:
    link = page.locator("#downloads a", has_text=name.split(".")[0]).filter(has_text=name)
    href = link.first.get_attribute("href") if link.count() else None
    if href is None:  # the name is split over elements: find the link by its address
        hrefs = page.locator("#downloads a").evaluate_all("links => links.map(a => a.href)")
        href = next(h for h in hrefs if h.endswith("/" + name))
    body: bytes = page.request.get(href).body()
    return body


def test_draw_a_box_on_the_generated_clip_and_run(page: Any, app: tuple[str, Path]) -> None:
    started = time.perf_counter()
    _load_generated(page)
    _draw(page, (194, 213), (261, 254))  # the clip's first box, 67 x 41
    box = _box(page)
    assert np.allclose(box, [194, 213, 67, 41], atol=1)

    page.locator("#run").click()
    sync_api.expect(_status(page)).to_have_text("Done.", timeout=TIMEOUT_MS)
    video = page.locator("#result video")
    assert (video.get_attribute("src") or "").endswith(".webm")
    page.wait_for_function("document.querySelector('#result video').readyState >= 1")
    assert video.evaluate("e => e.videoWidth") == 480
    sync_api.expect(page.locator("#summary")).to_contain_text("ms per frame")

    sequence = demo_sequence()
    sequence.boxes[0] = box
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALPHA_REFINE_BACKEND", "torch")
        expected = run_demo(sequence, _load(False), "mil", progress=False)
    rows = list(csv.DictReader(io.StringIO(_download(page, "boxes.csv").decode())))
    refined = np.array([[float(r[f"refined_{c}"]) for c in "xywh"] for r in rows])
    base = np.array([[float(r[f"base_{c}"]) for c in "xywh"] for r in rows])
    np.testing.assert_array_equal(base, expected.base_boxes)
    np.testing.assert_array_equal(refined, expected.refined_boxes)
    content = json.loads(_download(page, "boxes.json"))
    np.testing.assert_array_equal(content["refined"], expected.refined_boxes)
    assert _download(page, "result.mp4")[4:8] == b"ftyp"
    print(f"draw, run and check: {time.perf_counter() - started:.1f} s")


def test_a_file_that_is_not_a_video_gets_a_message(
    page: Any, app: tuple[str, Path], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_text("a shopping list, not a video")
    page.locator("#upload input[type=file]").set_input_files(str(notes))
    sync_api.expect(_status(page)).to_contain_text("notes.mp4")
    sync_api.expect(_status(page)).to_contain_text("Error")
    assert page.locator("#first-frame img").count() == 0
    _load_generated(page)  # the server goes on serving
    outside = page.request.get(f"{app[0]}gradio_api/file={Path(__file__).resolve()}")
    assert outside.status == 403  # nothing outside the app's folder is served


def test_two_sessions_keep_their_own_video_box_and_files(
    browser: Any, app: tuple[str, Path], tmp_path: Path
) -> None:
    address, folder = app
    sessions = folder / "sessions"
    first = browser.new_context().new_page()
    second = browser.new_context().new_page()
    for tab in (first, second):
        tab.goto(address)
    _load_generated(first)
    first.locator("#box textarea, #box input").first.fill("194, 213, 67, 41")
    first.keyboard.press("Enter")
    sync_api.expect(_status(first)).to_contain_text("Box 194, 213, 67, 41")

    clip = write_clip(tmp_path / "walk.avi", frames=6)
    second.locator("#upload input[type=file]").set_input_files(str(clip))
    sync_api.expect(_status(second)).to_contain_text("Loaded walk.avi: 6 frames")
    _draw(second, (200, 220), (250, 250))
    second.locator("#run").click()
    sync_api.expect(_status(second)).to_have_text("Done.", timeout=TIMEOUT_MS)
    sync_api.expect(second.locator("#summary")).to_contain_text("walk.avi (6 frames")
    sync_api.expect(second.locator("#summary")).to_contain_text("base vs base + AR")

    assert _box(first) == [194, 213, 67, 41]
    assert first.locator("#result video").count() == 0
    assert len([p for p in sessions.iterdir() if p.is_dir()]) >= 2
    assert list(sessions.glob("*/upload/walk.avi"))

    for tab in (first, second):
        tab.context.close()
    deadline = time.monotonic() + 30
    while list(sessions.glob("*/upload/walk.avi")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(sessions.glob("*/upload/walk.avi")), "a closed session's files stay"


def test_cancel_stops_a_run(page: Any) -> None:
    _load_generated(page)
    page.locator("#box textarea, #box input").first.fill("194, 213, 67, 41")
    page.keyboard.press("Enter")
    sync_api.expect(_status(page)).to_contain_text("Box 194")
    page.locator("#run").click()
    page.wait_for_timeout(1500)
    page.locator("#cancel").click()
    sync_api.expect(_status(page)).to_have_text("Cancelled.")
    page.wait_for_timeout(1000)
    assert page.locator("#result video").count() == 0
    _load_generated(page)  # and the page still answers


@pytest.mark.skipif(
    not os.environ.get("ALPHA_REFINE_SCREENSHOT"), reason="ALPHA_REFINE_SCREENSHOT not set"
)
def test_screenshot_for_the_docs(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from alpha_refine.trackers import create_tracker

    monkeypatch.setattr("alpha_refine.demo.create_tracker", create_tracker)  # the real MIL
    _load_generated(page)
    _draw(page, (194, 213), (261, 254))
    page.locator("#run").click()
    sync_api.expect(_status(page)).to_have_text("Done.", timeout=TIMEOUT_MS)
    page.locator("#result video").evaluate("e => { e.currentTime = 5.0; }")
    page.wait_for_function(
        "(v => v.readyState >= 2 && !v.seeking)(document.querySelector('#result video'))"
    )
    page.wait_for_timeout(500)
    path = os.environ["ALPHA_REFINE_SCREENSHOT"]
    page.screenshot(path=path, full_page=True)
    from PIL import Image

    with Image.open(path) as image:  # 256 colours: a third of the bytes
        image.convert("RGB").quantize(256).save(path, optimize=True)
