# RAW-NOD (Morawski et al., GenISP, CVPRW 2022), Nikon D750 subset: dark .NEF files, boxes
# of person/bicycle/car on the rendered 3936x2624 frame; annotation files used as published
# (the test file declares all 80 COCO categories and has one zero-area box, ignored in eval).
# Layout (docs/datasets.md):
#   <data_root>/annotations/Nikon/raw_new_Nikon750_{train,val,test}.json
#   <data_root>/Nikon/DSC_1558.NEF ...                                         (all splits)
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
        ann_file='annotations/Nikon/raw_new_Nikon750_train.json',
        data_prefix=dict(img='Nikon/'),
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
        ann_file='annotations/Nikon/raw_new_Nikon750_val.json',
        data_prefix=dict(img='Nikon/'),
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
        ann_file='annotations/Nikon/raw_new_Nikon750_test.json',
        data_prefix=dict(img='Nikon/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))

# COCO bbox AP on the published annotation file of each dataloader (RawCocoMetric is a
# CocoMetric: official category ids, predictions mapped back to the annotated frame).
val_evaluator = dict(type='RawCocoMetric', metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
