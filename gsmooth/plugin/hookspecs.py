"""Hook specifications of the gsmooth plugin system (pluggy, project name ``"gsmooth"``).

A plugin is any module or object with functions decorated by :data:`hookimpl`. Built-in plugins
(``gsmooth_plugins.*``) are registered exactly like third-party ones, which are found through the
entry-point group ``gsmooth``::

    # pyproject.toml of a third-party distribution gsmooth-mynoise
    [project.entry-points.gsmooth]
    mynoise = "gsmooth_mynoise"

    # gsmooth_mynoise/__init__.py
    import gsmooth

    class MyNoise(gsmooth.Noise):
        name = "mynoise"
        ...

    @gsmooth.hookimpl
    def register_noises():
        return [MyNoise]
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "gsmooth"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_noises() -> list:
    """Return the :class:`gsmooth.Noise` subclasses this plugin provides.

    Each class must define a unique ``name`` class attribute (the key users type, e.g.
    ``--noise gaussian``), a ``norm`` attribute (``"l2"``, ``"l1"``, ``"linf"`` or ``"param"``),
    keyword-only hyper-parameters with ``sigma`` as the scale, ``sample(shape, *, generator,
    device, dtype)``, and either a closed-form ``radius(p_lower)`` or the 1-D ``pdf``/``ppf`` from
    which the engine integrates the radius numerically. Check it with
    :func:`gsmooth.testing.check_noise`.

    Returns:
        A list of classes (not instances). An empty list is allowed.
    """


@hookspec
def register_transforms() -> list:
    """Return the :class:`gsmooth.Transform` subclasses this plugin provides.

    Each class must define a unique ``name``, ``param_dim`` (length of θ, or ``None`` for
    image-shaped θ as in additive noise), ``kind`` (``"exact"``, ``"surrogate"`` or
    ``"empirical"``: what the certificate means) and ``forward(x, theta)`` mapping
    ``x (B,C,H,W)`` and ``theta (B, param_dim)`` to ``(B,C,H,W)``. Check it with
    :func:`gsmooth.testing.check_transform`.

    Returns:
        A list of classes (not instances). An empty list is allowed.
    """


@hookspec
def register_training_methods() -> list:
    """Return the :class:`gsmooth.training.methods.TrainingMethod` subclasses this plugin provides.

    A training method turns one batch into the loss ``gsmooth train`` minimises. Each class must define
    a unique ``name`` (what :class:`gsmooth.training.trainer.TrainConfig` ``.method`` names; the built-ins
    are ``noise``, ``consistency``, ``smoothadv`` and ``macer``), keyword-only hyper-parameters checked
    against its ``_parameter_constraints`` table by ``self.validate_params()`` in ``__init__``, and
    ``loss(model, smoother, x, y, *, generator) -> MethodLoss`` drawing its noise only from ``generator``
    through ``smoother.noise.sample`` and ``smoother.transform``. Optional: ``check(smoother)`` (refuse,
    with a typed error, a noise or transform it cannot train with; called once before training),
    ``set_epoch(epoch)``, ``copies``. Build one by name with :func:`gsmooth.training_method`.

    Example::

        import torch.nn.functional as F
        from gsmooth.training.methods import MethodLoss, TrainingMethod

        class CleanAndNoisy(TrainingMethod):
            name = "clean_and_noisy"

            def __init__(self):
                self.validate_params()

            def loss(self, model, smoother, x, y, *, generator):
                noisy = smoother.perturb(x, generator=generator)
                logits = model(noisy)
                return MethodLoss(F.cross_entropy(logits, y) + F.cross_entropy(model(x), y), logits)

        @gsmooth.hookimpl
        def register_training_methods():
            return [CleanAndNoisy]

    Returns:
        A list of classes (not instances). An empty list is allowed.
    """


@hookspec
def register_architectures() -> list:
    """Return the classifier architectures this plugin provides, as :class:`gsmooth.models.Architecture`.

    An architecture is a name (what users type: ``gsmooth train --arch NAME``, and what a checkpoint
    records so that ``certify`` can rebuild the model) and a builder
    ``build(*, input_shape, num_classes) -> nn.Module`` taking ``input_shape = (C, H, W)`` and the
    number of classes ``k``, returning a module mapping normalized images ``(B, C, H, W)`` to logits
    ``(B, k)`` (gsmooth puts the :class:`~gsmooth.models.architectures.Normalize` layer in front).
    ``pattern=`` registers a family of names instead (a regular expression; its named groups are
    passed to ``build`` as keyword arguments), as the built-in ``resnet<6n+2>`` and ``tv:<model>``.
    Look one up with :func:`gsmooth.models.get_architecture`.

    Example::

        from torch import nn
        from gsmooth.models import Architecture

        def tiny_mlp(*, input_shape, num_classes):
            c, h, w = input_shape
            return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 32), nn.ReLU(), nn.Linear(32, num_classes))

        @gsmooth.hookimpl
        def register_architectures():
            return [Architecture("tiny_mlp", tiny_mlp, description="784-32-k perceptron")]

    :return: a list of :class:`gsmooth.models.Architecture`. An empty list is allowed.
    """


@hookspec
def register_datasets() -> list:
    """Return the image classification datasets this plugin provides, as :class:`gsmooth.data.DatasetSpec`.

    A dataset spec holds the dataset's constants (:class:`gsmooth.data.DatasetInfo`: name, number of
    classes, input shape ``(C, H, W)``, per-channel mean/std for the model's normalization layer,
    class names) and ``load(split, *, root, download) -> ImageTensorDataset`` giving the ``"train"`` or
    ``"test"`` split as ``uint8`` images ``(N, C, H, W)`` and labels ``(N,)``. Optional: ``files(root)``,
    the files ``load`` reads (commands refuse to write their outputs over them), ``augmentation``
    (a factory of the training-time image transform ``train`` applies), ``aliases``. The name works
    everywhere a built-in one does: ``gsmooth train/certify/predict/attack --dataset NAME``; look
    one up with :func:`gsmooth.data.get_dataset`.

    Example::

        from gsmooth.data import DatasetInfo, DatasetSpec, ImageTensorDataset

        def load(split, *, root=None, download=False):
            g = torch.Generator().manual_seed(0 if split == "train" else 1)
            labels = torch.randint(0, 2, (100,), generator=g)
            images = (labels.view(-1, 1, 1, 1) * 255).to(torch.uint8).expand(-1, 1, 8, 8).contiguous()
            return ImageTensorDataset(images, labels, classes=("dark", "light"))

        INFO = DatasetInfo("dark_light", 2, (1, 8, 8), mean=(0.5,), std=(0.5,), classes=("dark", "light"))

        @gsmooth.hookimpl
        def register_datasets():
            return [DatasetSpec(INFO, load)]

    :return: a list of :class:`gsmooth.data.DatasetSpec`. An empty list is allowed.
    """


@hookspec
def register_denoisers() -> list:
    """Return the denoiser architectures this plugin provides, as :class:`gsmooth.denoising.DenoiserArchitecture`.

    A denoiser architecture is a name (what users type: ``gsmooth train-denoiser --arch NAME``, and
    what a denoiser checkpoint records so that ``certify --denoiser`` can rebuild it) and a builder
    ``build(*, input_shape) -> nn.Module`` taking ``input_shape = (C, H, W)`` and returning a module
    mapping noisy pixel images ``(B, C, H, W)`` to denoised ones of the same shape. ``pattern=``
    registers a family of names (as the built-in ``dncnn<D>x<W>``). The module may define
    ``gsmooth_smoothing_noise(noise, transform)``: :class:`gsmooth.denoising.DenoisedClassifier`
    then lets it accept the smoothing noise (a diffusion denoiser maps ``noise.sigma`` to a timestep)
    instead of requiring the σ it was trained for. Look one up with
    :func:`gsmooth.denoising.get_denoiser_architecture`.

    Example::

        from torch import nn
        from gsmooth.denoising import DenoiserArchitecture

        @gsmooth.hookimpl
        def register_denoisers():
            return [DenoiserArchitecture("blur3", lambda *, input_shape: nn.AvgPool2d(3, 1, 1),
                                         description="3x3 box blur")]

    :return: a list of :class:`gsmooth.denoising.DenoiserArchitecture`. An empty list is allowed.
    """


@hookspec
def register_commands(subparsers) -> None:
    """Add subcommands to the ``gsmooth`` command line (llm's ``register_commands``, for argparse).

    ``subparsers`` is the ``argparse`` sub-parsers action of the ``gsmooth`` parser: add a command
    with ``p = subparsers.add_parser(NAME, help=…)``, its options with ``p.add_argument(…)``, and its
    run function with ``p.set_defaults(func=run)``. ``run(args)`` gets the parsed
    ``argparse.Namespace`` and returns the exit code (``None`` means 0); a
    :class:`gsmooth.GsmoothError` it raises is printed as one line, exit code 2, as for the built-in
    commands. Optionally ``p.set_defaults(interrupted=hint)``: ``hint(args) -> str`` says what was
    kept after Ctrl-C. A command name already taken (by a built-in or another plugin) is an error
    naming both providers. The built-in commands (``certify``, ``train``, …) are added this way.

    Example::

        def run(args):
            print(f"hello, {args.who}")

        @gsmooth.hookimpl
        def register_commands(subparsers):
            p = subparsers.add_parser("hello", help="say hello")
            p.add_argument("--who", default="world")
            p.set_defaults(func=run)
    """
