# The embedded low-light multi-camera RAW benchmark (tools/make_demo_dataset.py). RAW side:
# packed DNGs at their native half resolution; the sRGB oracle side is in detector_srgb.py.

data_root = '{{$GENISP_DEMO_ROOT:data/genisp_demo/}}'
demo_classes = ('red_disc', 'blue_disc', 'square', 'triangle')
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')
color_space = 'xyz'  # 'camera' for the "GenISP without the XYZ transform" ablation

train_pipeline = [
    dict(type='LoadRawImageFromFile', color_space=color_space, on_error='skip'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    dict(type='LoadRawImageFromFile', color_space=color_space),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
_dataset = dict(type='RawCocoDataset', data_root=data_root, detector_classes=demo_classes,
                metainfo=dict(classes=demo_classes))
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**_dataset, ann_file='annotations/sony_rx100m7_train.json',
                 data_prefix=dict(img='sony_rx100m7/train/'),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**_dataset, ann_file='annotations/nikon_d750_test.json',
                 data_prefix=dict(img='nikon_d750/test/'), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='RawCocoMetric', metric='bbox')
test_evaluator = val_evaluator

# reproducible demo runs (mmengine otherwise draws a random seed per run)
randomness = dict(seed=0)
