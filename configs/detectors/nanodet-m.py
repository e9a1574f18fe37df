# NanoDet-m (RangiLyu, Apache-2.0; upstream config/legacy_v0.x_configs/nanodet-m.yml) as an
# MMDetection model, with the modules of genisp_mmdet.models.nanodet. The COCO weights:
#   python tools/model_converters/nanodet_to_mmdet.py ../shared/detectors/nanodet_m/nanodet_m.pth
# Behind GenISP: configs/genisp_nanodet-m.py (model.detector='configs/detectors/nanodet-m.py').
custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)

model = dict(
    type='GFL',
    # BGR input normalised with ImageNet statistics in BGR order, padded to the coarsest stride
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[103.53, 116.28, 123.675],
                           std=[57.375, 57.12, 58.395], bgr_to_rgb=False, pad_size_divisor=32),
    backbone=dict(type='NanoDetShuffleNetV2', model_size='1.0x', out_stages=(2, 3, 4)),
    neck=dict(type='NanoDetPAN', in_channels=[116, 232, 464], out_channels=96),
    bbox_head=dict(
        type='NanoDetHead', num_classes=80, in_channels=96, feat_channels=96, stacked_convs=2,
        reg_max=7,
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=5,
                              scales_per_octave=1, strides=[8, 16, 32], center_offset=0.5),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1,
                   pos_weight=-1, debug=False),
    # upstream: top 1000 per level, score > 0.05, class-wise NMS at IoU 0.6, 100 boxes
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05,
                  nms=dict(type='nms', iou_threshold=0.6), max_per_img=100))
