"""GSmooth surrogates: certify a non-resolvable transformation τ through a learned model of it.

GSmooth (Hao et al., ICML 2022) replaces a transformation that does not compose in its parameter
(rotational/defocus/zoom/motion blur, pixelate, …) by a surrogate

    τ̃(θ, x) = H(F2(x) + F1(θ) + ξ)

- **F1**: bias-free linear map θ ∈ R^d → an image-shaped latent (C·H·W = m numbers); its matrix is W.
- **F2**: residual encoder ``F2(x) = x + conv(act(conv(act(conv(x)))))`` (three 3×3 convolutions),
  so the latent has the image's shape.
- **H**: a small U-Net decoder (two down/up levels, GroupNorm) whose output ``H(z)`` is concatenated
  with ``z`` and mixed by a final 3×3 convolution.
- **ξ** ~ N(0, σ_ξ² I_m): noise on the latent; θ ~ N(0, σ_θ² I_d) is the parameter noise.

The surrogate is trained to reproduce ``τ(θ, x)`` (L1 loss, Adam, a fresh θ ~ U[range] for every
sample at every step) plus ``path_weight`` times a path-deviation penalty
(:func:`~gsmooth.surrogate.train.path_penalty`: how far ``F2(τ(α, x)) − F2(τ(α', x))`` is from
``W(α − α')`` on truly transformed images), which keeps G, and so M*, small. The smoothed classifier then classifies surrogate outputs, and
:mod:`gsmooth.surrogate.lipschitz` gives the radius ``Φ⁻¹(p_lower) / sqrt(σ_θ⁻² + G² σ_ξ⁻²)`` with
``G = max_α ‖∂F2(τ(α, x))/∂α − W‖₂`` over the certified range (a grid *estimate*). The
certificate is of kind ``surrogate``: it holds for the smoothed classifier built on the surrogate,
applied to truly transformed inputs ``τ(α, x)`` (F2 sees the true transform), for α in the range G
was taken over and ``‖α‖₂ < R``.

How it plugs into the engine unchanged: :class:`SurrogateTransform` is a :class:`gsmooth.Transform`
of kind ``"surrogate"`` with ``param_shape = (d + m,)``. The engine draws ``θ_full ~ N(0, σ_θ² I)``;
``forward`` splits it into θ (first d) and ``ξ = (σ_ξ/σ_θ) · θ_full[d:]`` (``sigma_ratio``), and
``lipschitz_factor(x) = sqrt(1 + G(x)² / sigma_ratio²)``, so the engine's
``σ_θ Φ⁻¹(p_lower) / M*`` is exactly GSmooth's radius. It is **not registered by name**: it needs a
trained surrogate, so it is built from one (``SurrogateTransform(surrogate=…)``) or from a file
(:meth:`SurrogateTransform.from_checkpoint`). It is valid for isotropic Gaussian noise only
(:attr:`gsmooth.Noise.isotropic_gaussian`, :meth:`SurrogateTransform.check_noise`).

What a certificate covers (one parameter, :mod:`gsmooth.surrogate.path_bounds`). A point certificate for
the input x is the largest R such that the *path shift* of x — √(|α|² + ‖F2(τ(α, x)) − F2(x) −
Wα‖²/r²), bounded over the whole segment (``sound`` with proven speed and Lipschitz bounds, else a
grid ``estimate``) — stays below σ_θ Φ⁻¹(p_lower) for every |α| < R in the range: then
``g(τ(α, x)) = g(x)`` there. It needs τ(0, x) = x and 0 in the range (else refused). An interval
certificate over [a, b] certifies each slice on ``x_k = τ(c_k, x)`` against the bound of x's path
over that slice (:func:`gsmooth.interval.engine.certify_interval`, through the strategy
:class:`gsmooth.surrogate.transform.SurrogateSlices`), with a Bonferroni α/K per slice. The
θ-noise centre ``theta_center`` only selects which smoothed classifier is certified (W is
constant, so the shifts do not depend on it). Several parameters (d > 1) keep the older
whole-range grid estimate of G (``lipschitz_factor(x, path_origin=…, param_range=…)``), labelled
``estimate``.

Choices of ours, not taken from the paper's code (see also :mod:`gsmooth.surrogate.lipschitz`):

- activations are SiLU (smooth), so F2 adds no kinks of its own to ``α ↦ F2(τ(α, x))`` (the
  true transforms still have some: bilinear resampling and soft disks are piecewise smooth in α);
  F2 has no normalisation layer, so each image is encoded independently of its batch;
- F1 and the last encoder convolution start at zero and the final convolution starts as the
  identity on ``z``: the untrained surrogate is ``τ̃(θ, x) = x`` (in a short CPU comparison this
  learned faster than a random start of the final convolution);
- the U-Net is small (base width 16, two levels, up-convolutions at the coarse resolution) to
  train on a CPU in minutes at 28×28/32×32; use ``width=32`` or more on a GPU / for CIFAR;
- latent noise during training is optional (``latent_sigma``, default 0: a surrogate of τ itself);
- the held-out evaluation reports L1 and PSNR per θ bin against the true transform, next to the
  "identity" baseline (``x`` vs ``τ(θ, x)``), and is stored in the checkpoint.

Example:
    >>> import gsmooth, torch
    >>> from gsmooth.surrogate import SurrogateModel
    >>> net = SurrogateModel(input_shape=(1, 28, 28), param_dim=1)
    >>> net(torch.rand(2, 1, 28, 28), torch.rand(2, 1)).shape
    torch.Size([2, 1, 28, 28])
"""

from __future__ import annotations

from .model import SurrogateModel
from .train import DEFAULT_PATH_WEIGHT, path_penalty, train_surrogate, read_training_state, saved_surrogate_progress
from .evaluate import BinStats, HeldoutG, SurrogateEvaluation, evaluate_surrogate, heldout_G
from .io import FORMAT, VERSION, save_surrogate, load_surrogate
from .transform import SurrogateTransform

__all__ = ["FORMAT", "VERSION", "SurrogateModel", "BinStats", "SurrogateEvaluation", "HeldoutG", "train_surrogate",
           "path_penalty", "DEFAULT_PATH_WEIGHT", "read_training_state", "saved_surrogate_progress",
           "evaluate_surrogate", "heldout_G", "save_surrogate", "load_surrogate", "SurrogateTransform"]
