"""Small helpers the package and its tools share."""
from .timing import interleaved, median_seconds

__all__ = ['interleaved', 'median_seconds']
