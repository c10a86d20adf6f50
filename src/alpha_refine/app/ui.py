"""The page: Gradio components and the handlers that connect them to the app's functions.

Each browser session keeps its video and box in a ``gr.State`` (:class:`Selection`) and its
files in its own folder of the :class:`~alpha_refine.app.session.Workspace`, deleted when the tab
closes. Handlers turn bad input into a message in the status box; the server goes on serving.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from typing import Any

import cv2
import gradio as gr
import numpy as np

from alpha_refine.app.results import (
    RefinerPool,
    RunOptions,
    format_summary,
    iou_curves,
    summary,
    track,
    write_outputs,
)
from alpha_refine.app.session import AppError, Cancelled, Limits, Workspace
from alpha_refine.app.video import (
    VIDEO_SUFFIXES,
    Box,
    Video,
    box_from_corners,
    box_text,
    check_box,
    draw_selection,
    first_frame,
    generated_video,
    open_video,
    parse_box,
)
from alpha_refine.trackers import OPENCV_TRACKERS, available_trackers

DEEP_TRACKERS = ("nano", "vit")
CONTRIB_TRACKERS = ("csrt", "kcf", "mosse", "medianflow", "tld", "boosting")
PLOT_COLORS = {"base": "#d62728", "base + AR": "#2ca02c", "base vs base + AR": "#1f77b4"}
INTRO = """# alpha-refine
Load a video, click two opposite corners of the target on its first frame, pick a base tracker
and press **Run**: the base tracker's boxes (red) and the same tracker refined by Alpha-Refine
(green, mask in green shade) side by side."""


@dataclass(frozen=True)
class Selection:
    """One session's video, the first clicked corner and the box (``x, y, w, h`` pixels)."""

    video: Video | None = None
    corner: tuple[float, float] | None = None
    box: Box | None = None


def tracker_choices() -> tuple[list[tuple[str, str]], str]:
    """The base trackers that run here, as (label, name), and a note on the missing ones."""
    names = available_trackers()
    advice = (
        (
            DEEP_TRACKERS,
            "their model files are not here; `alpha-refine download-trackers` fetches them "
            "(then restart the app).",
        ),
        (
            CONTRIB_TRACKERS,
            "need opencv-contrib-python-headless (`pip install 'alpha-refine[opencv-contrib]'`, "
            "docs/trackers.md).",
        ),
    )
    notes = []
    for group, text in advice:
        missing = [OPENCV_TRACKERS[n].label for n in group if n not in names]
        if missing:
            notes.append(f"{', '.join(missing)}: {text}")
    return [(OPENCV_TRACKERS[n].label, n) for n in names], " ".join(notes)


def _session(request: gr.Request) -> str:
    return str(request.session_hash)


def _warning(error: Exception) -> str:
    return f"**Error:** {error}"


class Handlers:
    """The page's event handlers, bound to one app's workspace, refiners and limits."""

    def __init__(self, workspace: Workspace, refiners: RefinerPool, limits: Limits) -> None:
        self.workspace = workspace
        self.refiners = refiners
        self.limits = limits

    def _preview(self, selection: Selection, session: str) -> str | None:
        """The first frame with the selection drawn, as a new file (new name, no stale cache)."""
        if selection.video is None:
            return None
        folder = self.workspace.session_dir(session) / "frames"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        image = draw_selection(first_frame(selection.video), selection.box, selection.corner)
        path = folder / f"first-frame-{uuid.uuid4().hex[:8]}.png"
        cv2.imwrite(str(path), image)
        return str(path)

    def _loaded(self, video: Video, session: str) -> tuple[Any, ...]:
        selection = Selection(video)
        status = f"Loaded {video.describe()}. Click two opposite corners of the target."
        return (selection, self._preview(selection, session), "", status, None)

    def load_upload(self, upload: str | None, request: gr.Request) -> tuple[Any, ...]:
        """An uploaded file: moved into the session's folder and checked."""
        if upload is None:
            return (gr.skip(),) * 5
        session = _session(request)
        try:
            video = open_video(self.workspace.adopt(upload, session), self.limits)
        except AppError as error:
            shutil.rmtree(self.workspace.session_dir(session) / "upload", ignore_errors=True)
            return (Selection(), None, "", _warning(error), None)
        return self._loaded(video, session)

    def load_generated(self, request: gr.Request) -> tuple[Any, ...]:
        """The clip ``alpha-refine demo`` generates."""
        return self._loaded(generated_video(), _session(request))

    def click(
        self, selection: Selection | None, event: gr.SelectData, request: gr.Request
    ) -> tuple[Any, ...]:
        """A click on the first frame: the first corner, then the opposite one (a third click
        starts a new box)."""
        selection = selection or Selection()
        video = selection.video
        if video is None:
            return selection, gr.skip(), gr.skip(), "Load a video first."
        x, y = (float(v) for v in event.index)
        if selection.corner is None:
            selection = Selection(video, corner=(x, y))
            status = f"First corner at {x:g}, {y:g}: click the opposite corner."
        else:
            box = box_from_corners(selection.corner, (x, y))
            try:
                check_box(box, video)
            except AppError as error:
                selection = Selection(video)
                status = _warning(error)
            else:
                selection = Selection(video, box=box)
                status = f"Box {box_text(box)}: press Run, or click again to draw another."
        text = "" if selection.box is None else box_text(selection.box)
        return selection, self._preview(selection, _session(request)), text, status

    def type_box(
        self, selection: Selection | None, text: str, request: gr.Request
    ) -> tuple[Any, ...]:
        """A box typed as ``x, y, w, h``."""
        selection = selection or Selection()
        if selection.video is None:
            return selection, gr.skip(), "Load a video first."
        try:
            box = check_box(parse_box(text), selection.video)
        except AppError as error:
            return selection, gr.skip(), _warning(error)
        selection = Selection(selection.video, box=box)
        return selection, self._preview(selection, _session(request)), f"Box {box_text(box)}."

    def clear(self, selection: Selection | None, request: gr.Request) -> tuple[Any, ...]:
        """Forget the box and the clicked corner."""
        selection = Selection((selection or Selection()).video)
        return selection, self._preview(selection, _session(request)), "", "Box cleared."

    def run(
        self,
        selection: Selection | None,
        tracker: str,
        mask: bool,
        blend: bool,
        flip: bool,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's way to ask for a bar)
    ) -> tuple[Any, ...]:
        """Track, refine and write the results; the status says what went wrong, if anything."""
        nothing = (None, None, "", None)
        if selection is None or selection.video is None:
            return (*nothing, "Load a video first.")
        if selection.box is None:
            return (*nothing, "Draw the target's box first: click two opposite corners.")
        session = _session(request)
        cancel = self.workspace.cancel_flag(session)
        cancel.clear()

        def on_frame(index: int, frames: int) -> None:
            if cancel.is_set():
                raise Cancelled
            progress((index, frames), desc="tracking", unit="frames")

        options = RunOptions(tracker, mask, blend, flip)
        try:
            progress(0, desc="loading the refiner")
            run = track(
                selection.video,
                selection.box,
                self.refiners.get(blend, flip),
                options,
                on_frame,
            )
            progress(1.0, desc="writing the video")
            runs = self.workspace.session_dir(session) / "runs"
            shutil.rmtree(runs, ignore_errors=True)  # one result per session
            outputs = write_outputs(run, runs / uuid.uuid4().hex[:8])
        except Cancelled:
            return (*nothing, "Cancelled.")
        except (AppError, OSError, ValueError, RuntimeError) as error:
            return (*nothing, _warning(error))
        table = _plot_table(iou_curves(run))
        text = format_summary(summary(run), blend_asked=blend)
        files = [str(path) for path in outputs.downloads]
        return str(outputs.shown), table, text, files, "Done."

    def cancel(self, request: gr.Request) -> str:
        """Stop this session's run at its next frame."""
        self.workspace.cancel_flag(_session(request)).set()
        return "Cancelled."

    def end(self, request: gr.Request) -> None:
        """The tab was closed: delete the session's files."""
        self.workspace.end_session(_session(request))


def _plot_table(curves: dict[str, Any]) -> Any:
    import pandas as pd

    frames = []
    for name, values in curves.items():
        ious = np.asarray(values, dtype=np.float64)
        frames.append(pd.DataFrame({"frame": np.arange(len(ious)), "IoU": ious, "curve": name}))
    return pd.concat(frames, ignore_index=True)


def build_app(workspace: Workspace, refiners: RefinerPool, limits: Limits) -> gr.Blocks:
    """The page, not yet launched (see :func:`alpha_refine.app.server.running_app`)."""
    handlers = Handlers(workspace, refiners, limits)
    choices, tracker_note = tracker_choices()
    default_blend = refiners.base(False).blend
    suffixes = ", ".join(s.lstrip(".") for s in VIDEO_SUFFIXES)
    blocks: gr.Blocks
    with gr.Blocks(title="alpha-refine", analytics_enabled=False) as blocks:
        selection = gr.State(Selection())
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(
                    label=f"Upload a video ({suffixes}; at most {limits.max_frames} frames, "
                    f"{limits.max_megabytes:g} MB)",
                    type="filepath",
                    elem_id="upload",
                )
                generated = gr.Button("Use the generated clip (with ground truth)")
                status = gr.Markdown("Load a video.", elem_id="status")
                box = gr.Textbox(
                    label="Box x, y, w, h (pixels): two clicks on the frame, or type it",
                    elem_id="box",
                )
                clear = gr.Button("Clear the box", size="sm")
            with gr.Column(scale=2):
                gr.Markdown("**First frame:** click two opposite corners of the target.")
                frame = gr.Image(
                    label="First frame",
                    show_label=False,  # a label would lie over the frame and catch clicks
                    type="filepath",
                    interactive=False,
                    buttons=[],
                    elem_id="first-frame",
                )
        with gr.Row(equal_height=True):
            tracker = gr.Dropdown(
                choices=choices,
                value="mil" if any(n == "mil" for _, n in choices) else None,
                label="Base tracker",
            )
            mask = gr.Checkbox(True, label="mask (show the refiner's mask)")
            blend = gr.Checkbox(default_blend, label="blend (learnt blend head)")
            flip = gr.Checkbox(False, label="flip (mirrored view too; twice the time)")
        if tracker_note:
            gr.Markdown(tracker_note, elem_id="tracker-note")
        with gr.Row():
            run = gr.Button("Run", variant="primary", elem_id="run")
            cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
        with gr.Row():
            with gr.Column():
                gr.Markdown("**Result:** base tracker red, refined green (mask in green shade).")
                video = gr.Video(
                    label="Result", show_label=False, interactive=False, elem_id="result"
                )
            with gr.Column():
                plot = gr.LinePlot(
                    x="frame",
                    y="IoU",
                    color="curve",
                    color_map=PLOT_COLORS,
                    y_lim=[0, 1],
                    label="IoU per frame",
                    elem_id="plot",
                )
                report = gr.Markdown(elem_id="summary")
        downloads = gr.File(
            label="Downloads: boxes (CSV, JSON) and video",
            file_count="multiple",
            interactive=False,
            elem_id="downloads",
        )
        private: dict[str, Any] = {"api_visibility": "private"}
        loaded = [selection, frame, box, status, upload]
        upload.upload(handlers.load_upload, [upload], loaded, **private)
        generated.click(handlers.load_generated, None, loaded, **private)
        frame.select(handlers.click, [selection], [selection, frame, box, status], **private)
        box.submit(handlers.type_box, [selection, box], [selection, frame, status], **private)
        clear.click(handlers.clear, [selection], [selection, frame, box, status], **private)
        running = run.click(
            handlers.run,
            [selection, tracker, mask, blend, flip],
            [video, plot, report, downloads, status],
            concurrency_limit=1,
            **private,
        )
        cancel.click(handlers.cancel, None, [status], cancels=[running], queue=False, **private)
        blocks.unload(handlers.end)
    return blocks
