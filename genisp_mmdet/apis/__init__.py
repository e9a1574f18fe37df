"""Using a trained model: inference over RAW files and export for deployment."""
from .inferencer import (RAW_EXTENSIONS, GenISPInferencer, RawInferenceFailure,
                         RawInferenceResult, expand_raw_inputs)

__all__ = ['GenISPInferencer', 'RawInferenceResult', 'RawInferenceFailure',
           'expand_raw_inputs', 'RAW_EXTENSIONS']
