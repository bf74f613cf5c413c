"""minibot.risk: the NORE risk layer as a pure core (`RiskCore`)."""

from minibot.risk.core import RiskCore

__all__ = ["RiskCore"]
