"""``alpha-refine app``: a browser page to try a tracker with and without Alpha-Refine on your
own video (the ``app`` extra: Gradio).

:func:`serve` runs it until stopped; :func:`running_app` serves it in the background (tests,
notebooks). The page's pieces: :mod:`~alpha_refine.app.session` (limits, per-session folders),
:mod:`~alpha_refine.app.video` (videos and boxes), :mod:`~alpha_refine.app.results` (a run and
its files), :mod:`~alpha_refine.app.ui` (the Gradio page; the only module importing Gradio, with
:mod:`~alpha_refine.app.server`).
"""

from alpha_refine.app.server import running_app, serve
from alpha_refine.app.session import AppError, Limits

__all__ = ["AppError", "Limits", "running_app", "serve"]
