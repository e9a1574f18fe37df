# The demo's small detector: the light RetinaNet, with a head for the 4 demo classes and
# anchors sized for its objects (8-45 px at the packed resolution).
_base_ = '../../_base_/models/retinanet_tiny.py'
model = dict(bbox_head=dict(num_classes=4,
                            anchor_generator=dict(octave_base_scale=2)))
