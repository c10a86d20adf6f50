"""The ``alpha-refine`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from alpha_refine import __version__

if TYPE_CHECKING:
    from alpha_refine.model import AlphaRefineNet
    from alpha_refine.weights import WeightsInfo


def _convert(args: argparse.Namespace) -> int:
    from alpha_refine.weights import convert_published

    out = convert_published(args.checkpoint, args.out_dir, dtype=args.dtype)
    print(f"wrote {out}/model.safetensors and {out}/config.json")
    print("load with: Refiner.from_pretrained(" + repr(str(out)) + ")")
    return 0


def _load_weights(args: argparse.Namespace) -> tuple[AlphaRefineNet, WeightsInfo]:
    """The network and info named by :func:`_weights_arguments`; ``default`` is the embedded
    model, as for ``eval --refiner``."""
    from alpha_refine.weights import load_pretrained

    name = None if args.name_or_path == "default" else args.name_or_path
    return load_pretrained(name, revision=args.revision, local_files_only=args.local_files_only)


def _info(args: argparse.Namespace) -> int:
    network, info = _load_weights(args)
    parameters = sum(p.numel() for p in network.parameters())
    print(json.dumps({**info.to_dict(), "parameters": parameters}, indent=2))
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from alpha_refine.runtime.export import export_onnx
    from alpha_refine.runtime.graphs import onnx_available

    if not onnx_available():
        print(
            "alpha-refine export-onnx: error: needs the onnx extra: "
            'pip install "alpha-refine[onnx]"',
            file=sys.stderr,
        )
        return 2
    network, info = _load_weights(args)
    calibration = None
    if args.calibration is not None:
        if args.precision != "int8":
            raise ValueError("--calibration is only used with --precision int8")
        from alpha_refine.data import load_dataset
        from alpha_refine.runtime.quantize import calibration_crops

        calibration = calibration_crops(load_dataset(args.calibration))
    paths = export_onnx(
        network,
        args.out_dir,
        opset=args.opset,
        metadata=info.to_dict(),
        precision=args.precision,
        calibration=calibration,
    )
    for path in paths:
        print(f"wrote {path}")
    if args.precision == "int8":
        import onnx

        fields = {p.key: p.value for p in onnx.load(paths[0]).metadata_props}
        print(json.loads(fields["alpha_refine"])["int8_check"]["summary"])
    return 0


def _train(args: argparse.Namespace) -> int:
    from alpha_refine.train.config import TrainConfig
    from alpha_refine.train.loop import is_main_process, train

    config = TrainConfig.from_toml(args.config)
    if args.out_dir:
        from dataclasses import replace

        config = replace(config, out_dir=args.out_dir)
    if args.export:
        from alpha_refine.train.loop import export_checkpoint

        print(f"weights: {export_checkpoint(config, args.export)}")
        return 0
    if args.cache_only:
        from alpha_refine.train.loop import build_cache

        print(f"feature cache: {build_cache(config)}")
        return 0
    final = train(
        config,
        resume=args.resume,
        device=args.device,
        config_path=args.config,
        max_iterations=args.max_iterations,
    )
    if is_main_process():  # under torchrun, rank 0 speaks for the run
        print(f"weights: {final}")
    return 0


def _parse_box(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h numbers, got {text!r}") from error
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected 4 numbers x,y,w,h, got {text!r}")
    return values


def _demo(args: argparse.Namespace) -> int:
    import numpy as np

    from alpha_refine import demo
    from alpha_refine.eval.commands import refiner_options
    from alpha_refine.eval.runner import load_refiner

    refiner = load_refiner(args.refiner, args.device, refiner_options(args))
    if refiner is None:
        raise ValueError("the demo needs a refiner; --refiner none is not possible here")
    sequence = None
    if args.video or args.frames:
        if args.box is None:
            raise ValueError("--video and --frames need --box x,y,w,h (the first frame's target)")
        box = np.asarray(args.box, dtype=np.float64)
        sequence = (
            demo.video_sequence(args.video, box, args.max_frames)
            if args.video
            else demo.folder_sequence(args.frames, box, args.max_frames)
        )
    summary = demo.demo(refiner, args.out, sequence=sequence, tracker=args.tracker)
    print(demo.format_summary(summary))
    return 0


def _app(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise ValueError('needs the app extra (Gradio): pip install "alpha-refine[app]"')
    from alpha_refine.app import Limits, serve
    from alpha_refine.eval.tracking import RefinerOptions, load_refiner
    from alpha_refine.refiner import Refiner

    def load(flip: bool) -> Refiner:
        refiner = load_refiner(args.refiner, args.device, RefinerOptions(flip=flip))
        if refiner is None:
            raise ValueError("the app needs a refiner; --refiner none is not possible here")
        return refiner

    serve(load, host=args.host, port=args.port, limits=Limits(args.max_frames, args.max_megabytes))
    return 0


def _download_trackers(args: argparse.Namespace) -> int:
    from alpha_refine.trackers.models import DEFAULT_DOWNLOADS, MODEL_FILES, download_models

    names = [n.strip().lower() for n in args.trackers.split(",") if n.strip()]
    if names == ["all"]:
        names = list(MODEL_FILES)
    unknown = [n for n in names if n not in MODEL_FILES]
    if unknown or not names:
        raise ValueError(
            f"trackers: {', '.join(unknown) or 'none named'}; trackers with model files: "
            f"{', '.join(MODEL_FILES)} (default {','.join(DEFAULT_DOWNLOADS)})"
        )
    download_models(
        names, args.dir, base_url=args.base_url, force=args.force, timeout=args.timeout, log=print
    )
    if args.dir is None:
        print(f"create_tracker({names[0]!r}) and eval --tracker {','.join(names)} find them there")
    else:
        print(
            f"{args.dir} is searched only when named: create_tracker({names[0]!r}, "
            f"model_dir=...), eval --tracker-models {args.dir}, or "
            f"ALPHA_REFINE_TRACKER_MODELS={args.dir}"
        )
    return 0


def _weights_arguments(parser: argparse.ArgumentParser) -> None:
    """The weights to load: ``name_or_path``, ``--revision``, ``--local-files-only``."""
    parser.add_argument(
        "name_or_path",
        help="'default' (the embedded model), folder, .safetensors file or hub 'org/name[@rev]'",
    )
    parser.add_argument("--revision", default=None)
    parser.add_argument("--local-files-only", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpha-refine", description="Alpha-Refine box and mask refinement for any tracker."
    )
    parser.add_argument("--version", action="version", version=f"alpha-refine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    convert = commands.add_parser(
        "convert",
        help="convert the published checkpoint (SEcmnet_ep0040-c.pth.tar) to safetensors",
        description="Read the authors' checkpoint without their code (only tensors and "
        "containers are rebuilt from the pickle), keep the network, map its keys and write "
        "OUT_DIR/model.safetensors and OUT_DIR/config.json.",
    )
    convert.add_argument("checkpoint", help="the .pth.tar file, or a file with its state dict")
    convert.add_argument("out_dir", help="folder to write")
    convert.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    convert.set_defaults(run=_convert)

    info = commands.add_parser(
        "info", help="show the config and provenance of weights (folder, file or hub repo)"
    )
    _weights_arguments(info)
    info.set_defaults(run=_info)
    onnx_export = commands.add_parser(
        "export-onnx",
        help="export weights to ONNX (template.onnx, refine.onnx, refine_mask.onnx)",
        description="Write the network as three ONNX graphs with a dynamic number of targets "
        "(inputs: RGB crops N x 256 x 256 x 3 in 0..255 and template kernels; see "
        "alpha_refine.runtime.graphs). Needs the onnx extra.",
    )
    _weights_arguments(onnx_export)
    onnx_export.add_argument("out_dir", help="folder to write")
    onnx_export.add_argument(
        "--opset", type=int, default=None, help="ONNX opset (exporter default)"
    )
    onnx_export.add_argument(
        "--precision",
        choices=("float32", "int8"),
        default="float32",
        help="int8: the trunk quantized for ONNX Runtime on CPUs (docs/performance.md), "
        "calibrated on the package's synthetic sequences unless --calibration is given",
    )
    onnx_export.add_argument(
        "--calibration",
        metavar="DATASET",
        help="int8 calibration sequences: a dataset spec as for eval --dataset (plain:DIR, ...)",
    )
    onnx_export.set_defaults(run=_export_onnx)
    trainer = commands.add_parser(
        "train",
        help="train a refiner (the published recipe; configs in configs/)",
        description="Train Alpha-Refine from a TOML config. Resumable; for several GPUs start "
        "it with torchrun --nproc_per_node N -m alpha_refine.cli train ...",
    )
    trainer.add_argument("--config", required=True, help="TOML training config")
    trainer.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    trainer.add_argument("--out-dir", default=None, help="override the config's out_dir")
    trainer.add_argument("--device", default="auto")
    trainer.add_argument(
        "--max-iterations", type=int, default=None, help="stop after this many (resumable)"
    )
    trainer.add_argument(
        "--export", metavar="DIR", help="write the run's checkpoint as weights to DIR and exit"
    )
    trainer.add_argument(
        "--cache-only",
        action="store_true",
        help="build or finish the config's [features] cache and exit (resumable)",
    )
    trainer.set_defaults(run=_train)

    demo = commands.add_parser(
        "demo",
        help="a base tracker with and without refinement: table, annotated video, plot",
        description="Runs an OpenCV tracker with and without Alpha-Refine on a synthetic clip the "
        "package generates (no data or network needed), or on --video / --frames with --box, "
        "and writes demo.mp4 (base red, refined green, mask overlay), iou.png and demo.json.",
    )
    demo.add_argument("--video", help="a video file")
    demo.add_argument("--frames", help="a folder of frames (name order)")
    demo.add_argument("--box", type=_parse_box, help="x,y,w,h of the target in the first frame")
    demo.add_argument("--tracker", default="mil", help="OpenCV base tracker (default: mil)")
    demo.add_argument("--refiner", default="default", help="default | weights folder | hub id")
    demo.add_argument("--device", default="auto")
    demo.add_argument("--max-frames", type=int, default=300)
    demo.add_argument("--out", default="alpha-refine-demo", help="output folder")
    demo.set_defaults(run=_demo)

    from alpha_refine.eval.commands import add_eval_commands, add_view_options

    add_view_options(demo)

    app = commands.add_parser(
        "app",
        help="a browser page: draw a box on your video, see a tracker with and without refinement",
        description="Serves a page (Gradio; the app extra) where you load a video or the "
        "generated clip, click the target's box on the first frame, pick a base tracker and the "
        "refiner's options, and get the annotated video, the IoU per frame, timings and the "
        "boxes as CSV and JSON. Serves until stopped (Ctrl+C); uploads and results live in a "
        "temporary folder deleted when a browser session ends and when the app stops.",
    )
    app.add_argument("--host", default="127.0.0.1", help="address to listen on")
    app.add_argument("--port", type=int, default=7860)
    app.add_argument("--refiner", default="default", help="default | weights folder | hub id")
    app.add_argument("--device", default="auto")
    app.add_argument("--max-frames", type=int, default=300, help="longest video accepted")
    app.add_argument("--max-megabytes", type=float, default=100.0, help="largest upload")
    app.set_defaults(run=_app)

    download = commands.add_parser(
        "download-trackers",
        help="download the model files of OpenCV's deep trackers (NanoTrack, VitTrack, DaSiamRPN)",
        description="Download the ONNX model files of cv2.TrackerNano (nano), cv2.TrackerVit "
        "(vit) and cv2.TrackerDaSiamRPN (dasiamrpn) from their public URLs, pinned to a commit, "
        "check each file's hash (SHA-256; SHA-1 for DaSiamRPN, the one OpenCV pins) and write "
        "it atomically. Files already there with the right hash are kept. Default folder: "
        "$ALPHA_REFINE_TRACKER_MODELS if set, else <cache>/opencv-trackers, where "
        "create_tracker('nano') looks.",
    )
    download.add_argument(
        "trackers",
        nargs="?",
        default="nano,vit",
        help="comma-separated: nano, vit, dasiamrpn (about 160 MB), or all (default: nano,vit)",
    )
    download.add_argument("--dir", default=None, help="folder to write (default: see above)")
    download.add_argument(
        "--base-url",
        default=None,
        help="fetch every file from BASE_URL/<file name> instead (a mirror); hashes still checked",
    )
    download.add_argument(
        "--force", action="store_true", help="replace files that are there with another hash"
    )
    download.add_argument(
        "--timeout", type=float, default=60.0, help="seconds without data before giving up"
    )
    download.set_defaults(run=_download_trackers)

    add_eval_commands(commands)  # eval, refine-results, oracle
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (OSError, ValueError) as error:  # a missing file, a full disk, bad input
        print(f"alpha-refine {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
