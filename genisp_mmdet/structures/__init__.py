"""Geometry shared by the transforms and the metric: the annotated, visible and image frames
of a RAW detection sample."""
from .frames import (FRAMES, annotated_to_visible, annotation_to_image_affine,
                     image_to_annotation_boxes, visible_to_image)

__all__ = ['FRAMES', 'annotated_to_visible', 'visible_to_image', 'annotation_to_image_affine',
           'image_to_annotation_boxes']
