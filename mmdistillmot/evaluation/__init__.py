"""Evaluation: MOTChallenge scoring with TrackEval's metrics, the 1-based mmdet metric."""

from mmdistillmot.evaluation.mot_eval import (
    MOTEvalResult,
    MOTEvalWarning,
    evaluate_mot_results,
    format_results_table,
)
from mmdistillmot.evaluation.one_based_mot_challenge_metric import OneBasedMOTChallengeMetric

__all__ = [
    "MOTEvalResult",
    "MOTEvalWarning",
    "OneBasedMOTChallengeMetric",
    "evaluate_mot_results",
    "format_results_table",
]
