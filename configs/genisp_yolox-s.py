# GenISP in front of a frozen COCO-pretrained YOLOX-S (BGR, 0-255, no normalisation; its
# multi-scale batch augment is inherited). YOLOX was trained at 640x640: resize to fit that.
_base_ = './genisp_retinanet.py'
model = dict(detector='mmdet::yolox/yolox_s_8xb8-300e_coco.py', detector_checkpoint='zoo')
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadRawImageFromFile', on_error='skip', isolate=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
_test_pipeline = [
    dict(type='LoadRawImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
