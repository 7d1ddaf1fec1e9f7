"""Interval certificates: certify a whole parameter range by slices.

- :func:`certify_interval` (also :meth:`gsmooth.Smoother.certify_interval`) and the result type
  :class:`IntervalCertificate` (defined with the other certificates in :mod:`gsmooth.core.certificates`);
- :func:`slice_plan` / :class:`SlicePlan`: where the slices sit;
- :class:`SliceStrategy`: how one slice is certified — the public extension point for a transform
  with its own composition law (:mod:`gsmooth.interval.strategy`, "How a slice is certified"),
  with :class:`AdditiveComposition` (the default), :class:`SliceFactors` and :func:`radius_inverse`;
- :class:`UnsupportedTransformError`: the refusal a strategy raises.
"""

from ..core.certificates import IntervalCertificate
from ..errors import UnsupportedTransformError
from .engine import SlicePlan, best_slice_radius, certify_interval, check_interval_support, slice_key, slice_plan
from .strategy import AdditiveComposition, NoCompositionLaw, SliceFactors, SliceStrategy, radius_inverse

__all__ = [
    "certify_interval",
    "check_interval_support",
    "IntervalCertificate",
    "SlicePlan",
    "slice_plan",
    "slice_key",
    "best_slice_radius",
    "SliceStrategy",
    "AdditiveComposition",
    "NoCompositionLaw",
    "SliceFactors",
    "radius_inverse",
    "UnsupportedTransformError",
]
