# The demo's second small detector, of another family: FCOS (anchor-free: per-location
# classification, centerness and box distances; assigned by location and size range, not by
# anchor IoU) on the same light backbone and FPN as demo_detector.py's RetinaNet. It is fed
# BGR with Caffe-style means and no std scaling, where the RetinaNet gets RGB ImageNet
# mean/std, so pairing an ISP with it also checks that each detector gets its own input.
_base_ = '../../_base_/models/retinanet_tiny.py'
model = dict(
    type='FCOS',
    data_preprocessor=dict(mean=[102.9801, 115.9465, 122.7717], std=[1.0, 1.0, 1.0],
                           bgr_to_rgb=False),
    neck=dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    bbox_head=dict(
        _delete_=True, type='FCOSHead', num_classes=4, in_channels=32, stacked_convs=2,
        feat_channels=32, strides=[8, 16, 32, 64],
        # the demo's objects are 8-45 px at the packed resolution
        regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 1e8)),
        norm_on_bbox=True, centerness_on_reg=True, center_sampling=True, center_sample_radius=1.5,
        conv_bias=True,
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None)
