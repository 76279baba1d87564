"""nimctl: declarative model endpoints and evaluation jobs on DGX Cloud Lepton or locally."""

__version__ = "0.1.0"
