"""Deterministic verification of ReLU networks, beside randomized smoothing.

Exact mixed-integer linear programming (big-M ReLU encoding), the triangle LP relaxation, and
bound propagation (IBP, CROWN) answer "is every input within ``eps`` of ``x`` classified as
``x`` is?" for the base classifier itself — YES (proved), NO (with an adversarial example checked
by a forward pass) or MAYBE (a relaxation could not decide, or a time limit was reached).
"""

from .network import AffineLayer, ReluNetwork
from .region import NORMS, InputRegion, input_region
from .bounds import NetworkBounds, interval_bounds
from .extract import relu_network
from .crown import crown_bounds
from .verify import METHODS, Verdict, verify
from .search import RadiusResult, largest_certified_radius
from .lp import LpOutcome, lp_bounds
from .milp import MilpOutcome, milp_minimum

__all__ = [
    "AffineLayer",
    "ReluNetwork",
    "InputRegion",
    "input_region",
    "NORMS",
    "NetworkBounds",
    "interval_bounds",
    "relu_network",
    "crown_bounds",
    "METHODS",
    "Verdict",
    "verify",
    "RadiusResult",
    "largest_certified_radius",
    "LpOutcome",
    "lp_bounds",
    "MilpOutcome",
    "milp_minimum",
]
