"""Expert anomaly detectors whose maps become hints for the model: built-in (weight-free), oracle, anomalib."""
from .detector import Detector, DetectorSettings
from .result import ExpertResult

__all__ = ["Detector", "DetectorSettings", "ExpertResult"]
