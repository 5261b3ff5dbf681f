"""Re-ID networks trained as teachers."""

from mmdistillmot.models.reid.reid_batch_preprocessor import ReIDBatchPreprocessor
from mmdistillmot.models.reid.torchreid_classifier import TorchreidClassifier

__all__ = ["ReIDBatchPreprocessor", "TorchreidClassifier"]
