"""runner-fleet: single-use Azure VM runners for CI jobs that must reach private AKS clusters."""

__version__ = "0.1.0"
