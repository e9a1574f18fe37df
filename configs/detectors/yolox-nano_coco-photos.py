# MMDetection's own YOLOX-Nano with the official Megvii COCO weights (converted from their ONNX
# export by tools/model_converters/yolox_onnx_to_mmdet.py), evaluated by plain mmdet
# (CocoDataset, YOLOX's own test pipeline, CocoMetric) on well-lit COCO photographs: a check of
# the real detector that configs/genisp_yolox-nano.py puts behind GenISP.
#   python tools/model_converters/yolox_onnx_to_mmdet.py ../shared/detectors/yolox_nano/yolox_nano.onnx
#   python tools/test.py configs/detectors/yolox-nano_coco-photos.py checkpoints/yolox-nano_coco_megvii.pth
# The data root holds val2017/ + annotations/instances_val2017.json (COCO's category ids and
# names); set GENISP_COCO_ROOT to use another copy, e.g. the full COCO val2017.
_base_ = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'
custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)

data_root = '{{$GENISP_COCO_ROOT:../shared/datasets/coco-photos/}}'

# YOLOX's test pipeline (as in yolox_tiny/nano): keep-ratio resize to fit 416x416, pad to
# 416x416 with 114, BGR 0-255 (the data preprocessor adds no mean/std)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(416, 416), keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=False,
    dataset=dict(type='CocoDataset', data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json',
                     metric='bbox')
test_evaluator = val_evaluator

# evaluation only: YOLOX's training hooks (mode switch, norm sync, EMA copy) have no effect
custom_hooks = []
