# GenISP in front of a frozen NanoDet-m with RangiLyu's COCO weights (BGR, ImageNet mean/std,
# converted by tools/model_converters/nanodet_to_mmdet.py from
# ../shared/detectors/nanodet_m/nanodet_m.pth). NanoDet-m was trained and is tested at
# 320x320: resize to fit that.
_base_ = './genisp_retinanet.py'
model = dict(
    detector='{{ fileDirname }}/detectors/nanodet-m.py',
    detector_checkpoint='checkpoints/nanodet-m_coco_rangilyu.pth')
_train_pipeline = [
    dict(type='LoadRawImageFromFile', on_error='skip', isolate=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(320, 320), keep_ratio=True, interpolation='area'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]
_test_pipeline = [
    dict(type='LoadRawImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(320, 320), keep_ratio=True, interpolation='area'),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=_train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
