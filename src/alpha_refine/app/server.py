"""Start and stop the app: Gradio's server on one address, its files in the workspace only."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from alpha_refine.app.results import RefinerPool
from alpha_refine.app.session import Limits, Workspace

if TYPE_CHECKING:
    from alpha_refine.refiner import Refiner

# Gradio reads these when it builds components and serves files: uploads, its cache and example
# cache all go into the workspace, so nothing outside it is ever served.
_FOLDER_VARIABLES = ("GRADIO_TEMP_DIR", "GRADIO_EXAMPLES_CACHE")
_QUIET_VARIABLES = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SSR_MODE": "False"}
_CSS = "footer {display: none !important}"


@contextlib.contextmanager
def _environment(workspace: Workspace) -> Iterator[None]:
    values = {
        "GRADIO_TEMP_DIR": str(workspace.root),
        "GRADIO_EXAMPLES_CACHE": str(workspace.root / "examples"),
        **_QUIET_VARIABLES,
    }
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_app(
    load_refiner: Callable[[bool], Refiner],
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: Limits | None = None,
) -> Iterator[str]:
    """Serve the page on ``host:port`` in a background thread; yields its address. On exit the
    server stops and the workspace (uploads and results of every session) is deleted.

    ``load_refiner(flip)`` builds a refiner with that ``flip`` setting; the one without flip is
    loaded before the server starts, so bad weights fail here and not in the page.
    """
    import gradio as gr

    from alpha_refine.app.ui import build_app

    limits = limits or Limits()
    refiners = RefinerPool(load_refiner)
    refiners.base(False)
    with Workspace() as workspace, _environment(workspace):
        blocks = build_app(workspace, refiners, limits)
        blocks.queue(default_concurrency_limit=1)
        font = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts to fetch
        blocks.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=True,
            share=False,
            quiet=True,
            show_error=True,
            max_file_size=limits.max_bytes,
            ssr_mode=False,
            mcp_server=False,
            footer_links=[],
            theme=gr.themes.Default(font=font, font_mono=["ui-monospace", "monospace"]),
            css=_CSS,
        )
        try:
            yield f"http://{host}:{port}/"
        finally:
            blocks.close()


def serve(
    load_refiner: Callable[[bool], Refiner],
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    limits: Limits | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the page until interrupted (Ctrl+C or SIGTERM), then delete every session's
    files."""
    import signal
    import threading
    import time

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)

    with running_app(load_refiner, host=host, port=port, limits=limits) as address:
        say(f"alpha-refine app: open {address} in a browser (Ctrl+C stops it)")
        try:
            while True:
                time.sleep(0.5)
        except KeyboardInterrupt:
            say("alpha-refine app: stopped; its temporary files are deleted")
