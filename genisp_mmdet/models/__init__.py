"""Models: the GenISP pre-module, the RAW data preprocessor and the frozen-detector wrapper."""
from .data_preprocessor import RawDetDataPreprocessor
from .frozen_detector import FrozenDetector, raw_preprocessor_for
from .fixed_isps import GainGammaISP
from .genisp import ConvCC, ConvWB, GenISP, ImageToParameters, ShallowConvNet
from .nanodet import NanoDetHead, NanoDetPAN, NanoDetShuffleNetV2

__all__ = ['GainGammaISP', 'RawDetDataPreprocessor', 'FrozenDetector', 'raw_preprocessor_for',
           'GenISP', 'ConvCC', 'ConvWB', 'ImageToParameters', 'ShallowConvNet',
           'NanoDetShuffleNetV2', 'NanoDetPAN', 'NanoDetHead']
