"""Reading camera RAW files with rawpy/LibRaw: Bayer packing, levels, camera -> XYZ, typed
errors, and the decode-once packed cache."""
from .cache import (cache_path_for, cache_provenance, check_provenance, convert_to_cache,
                    fit_size, is_cached, load_packed_cache, read_provenance, resize_to_fit,
                    sidecar_path_for, write_packed_cache)
from .errors import (CacheMismatchError, DecoderCrashError, DecoderTimeoutError, MissingColorMatrixError,
                     NotRawFileError, RawFileNotFoundError, RawReadError, TruncatedRawError,
                     UnsupportedSensorError)
from .isolation import IsolatedDecoder
from .packing import (CFA_PATTERNS, CfaLayout, cfa_layout, orient_packed, pack_bayer,
                      pack_kernel_available)
from .reader import (RAW_EXTENSIONS, RAW_META_FIELDS, MissingColorMatrixWarning, PackedRaw,
                     read_raw)

__all__ = [
    'read_raw', 'PackedRaw', 'RAW_META_FIELDS', 'RAW_EXTENSIONS', 'MissingColorMatrixWarning',
    'RawReadError', 'RawFileNotFoundError', 'NotRawFileError', 'TruncatedRawError',
    'UnsupportedSensorError', 'MissingColorMatrixError', 'DecoderCrashError',
    'DecoderTimeoutError', 'IsolatedDecoder',
    'CFA_PATTERNS', 'CfaLayout', 'cfa_layout', 'orient_packed', 'pack_bayer', 'pack_kernel_available',
    'cache_path_for', 'sidecar_path_for', 'is_cached', 'fit_size', 'resize_to_fit',
    'write_packed_cache', 'load_packed_cache', 'convert_to_cache', 'cache_provenance',
    'check_provenance', 'read_provenance', 'CacheMismatchError',
]
