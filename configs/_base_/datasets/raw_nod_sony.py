# RAW-NOD (Morawski et al., GenISP, CVPRW 2022), Sony RX100 VII subset: dark .ARW files, boxes
# of person/bicycle/car on the rendered 5472x3648 frame; annotation files used as published.
# Layout (docs/datasets.md):
#   <data_root>/annotations/Sony/raw_new_Sony_RX100m7_{train,val}.json
#   <data_root>/annotations/Sony/raw_str_labeled_new_Sony_RX100m7_test.json  (int image ids)
#   <data_root>/Sony/DSC01881.ARW ...                                           (all splits)
# data_root: set GENISP_RAW_NOD_ROOT=/path/to/raw-nod/ (read when the config is parsed), or
#   --cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...
#                 test_dataloader.dataset.data_root=...
# (the evaluators read the annotation file of their dataset, so they follow).

data_root = '{{$GENISP_RAW_NOD_ROOT:data/raw-nod/}}'
dataset_type = 'RawCocoDataset'
backend_args = None
# RAW_META_KEYS (mmdet's defaults + 'raw_meta') and 'ann_to_img', the annotated -> image box
# map AlignRawAnnotations records, which RawCocoMetric inverts to score in the annotated frame.
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')

train_pipeline = [
    dict(type='LoadRawImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    dict(type='LoadRawImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/Sony/raw_new_Sony_RX100m7_train.json',
        data_prefix=dict(img='Sony/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/Sony/raw_new_Sony_RX100m7_val.json',
        data_prefix=dict(img='Sony/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/Sony/raw_str_labeled_new_Sony_RX100m7_test.json',
        data_prefix=dict(img='Sony/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))

# COCO bbox AP on the published annotation file of each dataloader (RawCocoMetric is a
# CocoMetric: official category ids, predictions mapped back to the annotated frame).
val_evaluator = dict(type='RawCocoMetric', metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
