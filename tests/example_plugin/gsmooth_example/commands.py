"""``gsmooth example-count-params``: a CLI subcommand, registered through the ``register_commands`` hook.

Counts the parameters of a checkpoint's model (``--model CKPT``) or of a registered architecture
built for a dataset (``--arch NAME [--dataset NAME]``)::

    $ gsmooth example-count-params --arch example_mlp --dataset example_bars
    example_mlp for example_bars (1x28x28, 2 classes): 50,370 parameters
"""

from __future__ import annotations

import argparse

import gsmooth
from gsmooth.data import dataset_info
from gsmooth.models import build_model


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "example-count-params",
        help="count the parameters of a model (example plugin command)",
        description="Count the trainable parameters of a checkpoint's model, or of an architecture built "
        "for a dataset's input shape and classes (the example plugin's command).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="CKPT", help="a checkpoint written by `gsmooth train`")
    which.add_argument("--arch", help="a registered architecture (see `gsmooth plugins`)")
    p.add_argument("--dataset", default="fashion-mnist",
                   help="with --arch: the dataset whose input shape and classes it is built for (default: fashion-mnist)")
    p.set_defaults(func=run)
    return p


def count_params(model) -> int:
    """Number of trainable parameters of ``model``.

    Example:
        >>> from torch import nn
        >>> count_params(nn.Linear(3, 2))
        8
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run(args) -> int:
    if args.model is not None:
        from gsmooth.io.checkpoints import load_checkpoint

        ckpt = load_checkpoint(args.model)
        model, arch, dataset = ckpt.build_model(), ckpt.arch, ckpt.dataset
        shape, classes = ckpt.input_shape, ckpt.num_classes
    else:
        if args.dataset is None:
            raise gsmooth.InvalidParameterError("--arch expected --dataset, got none")
        info = dataset_info(args.dataset)
        model = build_model(args.arch, num_classes=info.num_classes, input_shape=info.input_shape,
                            mean=info.mean, std=info.std)
        arch, dataset, shape, classes = args.arch, info.name, info.input_shape, info.num_classes
    shape_text = "x".join(str(v) for v in shape)
    print(f"{arch} for {dataset} ({shape_text}, {classes} classes): {count_params(model):,} parameters")
    return 0
