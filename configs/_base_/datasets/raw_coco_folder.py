# Template: any folder of RAW files (.ARW/.NEF/.CR2/.DNG... anything LoadRawImageFromFile
# reads) with COCO-format box annotations on the full-size rendered frame. Copy this file or
# inherit it and override the names below (docs/datasets.md, "Any COCO-annotated RAW folder"):
#   <data_root>/annotations/{train,val,test}.json   images[].file_name = the RAW file name,
#                                                   width/height = the annotated frame
#   <data_root>/raw/<file_name>
# Category names must be COCO names (labels are assigned by name into the detector's 80-class
# space; ids may be anything, the metric writes the file's own ids). Restrict the classes with
# metainfo=dict(classes=('person', 'car')) in each dataset dict.

data_root = '{{$GENISP_RAW_ROOT:data/my-raw/}}'
train_ann_file = 'annotations/train.json'
val_ann_file = 'annotations/val.json'
test_ann_file = 'annotations/test.json'
img_prefix = 'raw/'

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
        ann_file=train_ann_file,
        data_prefix=dict(img=img_prefix),
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
        ann_file=val_ann_file,
        data_prefix=dict(img=img_prefix),
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
        ann_file=test_ann_file,
        data_prefix=dict(img=img_prefix),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))

val_evaluator = dict(type='RawCocoMetric', metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
