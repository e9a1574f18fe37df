"""genisp-mmdet."""
