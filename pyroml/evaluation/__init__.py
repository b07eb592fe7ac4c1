"""What a fitted model is worth: one evaluator for every density model, and its metrics."""

from pyroml.evaluation.metrics import bits_per_dim, dequantise, iwae_bound, iwae_log_weights
from pyroml.evaluation.report import Report, evaluate

__all__ = ["evaluate", "Report", "iwae_bound", "iwae_log_weights", "dequantise", "bits_per_dim"]
