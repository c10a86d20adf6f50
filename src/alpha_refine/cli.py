"""The ``alpha-refine`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from alpha_refine import __version__


def _convert(args: argparse.Namespace) -> int:
    from alpha_refine.weights import convert_published

    out = convert_published(args.checkpoint, args.out_dir, dtype=args.dtype)
    print(f"wrote {out}/model.safetensors and {out}/config.json")
    print("load with: Refiner.from_pretrained(" + repr(str(out)) + ")")
    return 0


def _info(args: argparse.Namespace) -> int:
    from alpha_refine.weights import load_pretrained

    network, info = load_pretrained(
        args.name_or_path, revision=args.revision, local_files_only=args.local_files_only
    )
    parameters = sum(p.numel() for p in network.parameters())
    print(json.dumps({**info.to_dict(), "parameters": parameters}, indent=2))
    return 0


def _train(args: argparse.Namespace) -> int:
    from alpha_refine.train.config import TrainConfig
    from alpha_refine.train.loop import train

    config = TrainConfig.from_toml(args.config)
    if args.out_dir:
        from dataclasses import replace

        config = replace(config, out_dir=args.out_dir)
    final = train(
        config,
        resume=args.resume,
        device=args.device,
        config_path=args.config,
        max_iterations=args.max_iterations,
    )
    print(f"weights: {final}")
    return 0


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
    info.add_argument("name_or_path", help="folder, .safetensors file or hub 'org/name[@rev]'")
    info.add_argument("--revision", default=None)
    info.add_argument("--local-files-only", action="store_true")
    info.set_defaults(run=_info)
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
    trainer.set_defaults(run=_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (FileNotFoundError, ValueError) as error:
        print(f"alpha-refine {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
