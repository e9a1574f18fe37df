# GenISP in front of a frozen YOLOX-Nano with the official Megvii COCO weights, converted
# offline from their ONNX export (BGR, 0-255, no normalisation):
#   python tools/model_converters/yolox_onnx_to_mmdet.py ../shared/detectors/yolox_nano/yolox_nano.onnx
# YOLOX-Nano was trained and is tested at 416x416: resize to fit that. Its inherited
# multi-scale batch augment is switched off (no mosaic/mixup either: RAW pipelines).
_base_ = './genisp_retinanet.py'
model = dict(
    detector='mmdet::yolox/yolox_nano_8xb8-300e_coco.py',
    detector_checkpoint='checkpoints/yolox-nano_coco_megvii.pth',
    # YOLOX pads with gray 114 (its test pipeline's Pad); the preprocessor pads the ISP's
    # 0-255 output to the size divisor of 32 with the same value
    data_preprocessor=dict(batch_augments=None, pad_value=114.0))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadRawImageFromFile', on_error='skip', isolate=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(416, 416), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
_test_pipeline = [
    dict(type='LoadRawImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(416, 416), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]
val_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=_test_pipeline))
