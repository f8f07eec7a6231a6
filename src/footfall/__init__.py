"""Footfall: a self-hosted behavioural event platform, wire-compatible with eSputnik's Generate event."""

from footfall.config import Settings
from footfall.exceptions import FootfallError

__all__ = ["FootfallError", "Settings", "__version__"]
__version__ = "0.1.0"
