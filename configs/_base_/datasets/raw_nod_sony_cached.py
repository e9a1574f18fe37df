# RAW-NOD Sony from the decode-once packed cache instead of the RAW files: same annotation
# files, splits, evaluator and boxes; the images are the cache entries
# <data_root>/cache/Sony/<RAW file name>.npy (+ .json sidecar with raw_meta), decoded and packed
# once and stored resized to fit the training scale. Build the cache first (docs/datasets.md):
#   python tools/convert_raw_cache.py <data_root>/Sony <data_root>/cache/Sony
# LoadPackedRawFromFile appends '.npy' to the RAW path the dataset gives it, so only the image
# prefix changes; AlignRawAnnotations scales boxes to the stored size with raw_meta's
# visible_shape, and RawCocoMetric maps predictions back the same way.
_base_ = ['./raw_nod_sony.py']

cache_prefix = 'cache/Sony/'
# RAW_META_KEYS (mmdet's defaults + 'raw_meta') and 'ann_to_img', the annotated -> image box
# map AlignRawAnnotations records, which RawCocoMetric inverts to score in the annotated frame.
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')

train_pipeline = [
    dict(type='LoadPackedRawFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    dict(type='LoadPackedRawFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]

train_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
