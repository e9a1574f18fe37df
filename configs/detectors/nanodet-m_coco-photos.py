# NanoDet-m with RangiLyu's COCO weights (converted by tools/model_converters/
# nanodet_to_mmdet.py), evaluated by plain mmdet (CocoDataset, CocoMetric) on well-lit COCO
# photographs, next to configs/detectors/yolox-nano_coco-photos.py:
#   python tools/model_converters/nanodet_to_mmdet.py ../shared/detectors/nanodet_m/nanodet_m.pth
#   python tools/test.py configs/detectors/nanodet-m_coco-photos.py checkpoints/nanodet-m_coco_rangilyu.pth
# Input: keep-ratio resize to fit 320x320 (NanoDet-m's size), padded to a multiple of 32.
# The data root holds val2017/ + annotations/instances_val2017.json; set GENISP_COCO_ROOT for
# another copy, e.g. the full COCO val2017.
_base_ = ['./nanodet-m.py', 'mmdet::_base_/default_runtime.py']

data_root = '{{$GENISP_COCO_ROOT:../shared/datasets/coco-photos/}}'
input_size = (320, 320)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=input_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
val_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=False, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CocoDataset', data_root=data_root,
                 ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instances_val2017.json',
                     metric='bbox')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
