# Pretraining a demo detector on well-lit sRGB renderings of the train scenes - the stand-in
# for COCO pretraining (detector_srgb.py: the RetinaNet; detector_srgb_fcos.py: FCOS). Images
# are resized by 0.5 to the packed-RAW scale the detector will see behind the ISP.
_base_ = ['mmdet::_base_/default_runtime.py']
custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)

data_root = '{{$GENISP_DEMO_ROOT:data/genisp_demo/}}'
demo_classes = ('red_disc', 'blue_disc', 'square', 'triangle')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale_factor=0.5, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale_factor=0.5, keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]
_dataset = dict(type='CocoDataset', data_root=data_root, metainfo=dict(classes=demo_classes))
train_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(**_dataset, ann_file='annotations/srgb_train.json',
                 data_prefix=dict(img='srgb/train/'), filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**_dataset, ann_file='annotations/srgb_test.json',
                 data_prefix=dict(img='srgb/test/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/srgb_test.json',
                     metric='bbox')
test_evaluator = val_evaluator

max_epochs = 30
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=max_epochs,
                                     max_keep_ckpts=1),
                     logger=dict(type='LoggerHook', interval=20))

# reproducible demo runs (mmengine otherwise draws a random seed per run)
randomness = dict(seed=0)
