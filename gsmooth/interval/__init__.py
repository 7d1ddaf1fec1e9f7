"""Interval certificates: certify a whole parameter range by slices."""
