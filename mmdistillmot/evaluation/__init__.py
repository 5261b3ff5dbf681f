"""Evaluation: MOTChallenge scoring with TrackEval's metrics."""

from mmdistillmot.evaluation.mot_eval import (
    MOTEvalResult,
    MOTEvalWarning,
    evaluate_mot_results,
    format_results_table,
)

__all__ = ["MOTEvalResult", "MOTEvalWarning", "evaluate_mot_results", "format_results_table"]
