# What the dataset configs of this folder share (they inherit it; not usable alone: its
# datasets have no data_root, ann_file or data_prefix). COCO-format RAW datasets: each RAW
# file is decoded to a packed XYZ image, its boxes mapped from the annotated frame onto it,
# resized to fit 1333x800 (train: + horizontal flip), scored by COCO bbox AP on the published
# annotation file (docs/datasets.md). The resize averages whole pixels (area), the right
# anti-aliasing for noisy low-light data and the packed cache's own, so a cached pipeline
# feeds the model what the direct one does (up to float16 rounding).

dataset_type = 'RawCocoDataset'
backend_args = None
# RAW_META_KEYS (mmdet's defaults + 'raw_meta') and 'ann_to_img', the annotated -> image box
# map AlignRawAnnotations records, which RawCocoMetric inverts to score in the annotated frame.
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')

# training skips (and records) an unreadable file; evaluation never does (BadFilesHook).
# isolate: LibRaw decodes in a child process, so a file that crashes or hangs it is one
# skipped file, not the end of the run (docs/datasets.md, "Unreadable files").
train_pipeline = [
    dict(type='LoadRawImageFromFile', backend_args=backend_args, on_error='skip',
         isolate=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True, interpolation='area'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    dict(type='LoadRawImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True, interpolation='area'),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]

# the inheriting configs add data_root, ann_file and data_prefix to each dataset
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='AspectRatioBatchSampler'),
    dataset=dict(
        type=dataset_type,
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
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

# COCO bbox AP on the published annotation file of each dataloader (RawCocoMetric is a
# CocoMetric: official category ids, predictions mapped back to the annotated frame).
val_evaluator = dict(type='RawCocoMetric', metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
