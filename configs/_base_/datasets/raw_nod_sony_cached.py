# RAW-NOD Sony from the decode-once packed cache instead of the RAW files: same annotation
# files, splits, evaluator and boxes; the images are the cache entries
# <data_root>/cache/Sony/<RAW file name>.npy (+ .json sidecar with raw_meta), decoded and packed
# once and stored resized to fit the training scale. Build the cache first (docs/datasets.md):
#   python tools/convert_raw_cache.py <data_root>/Sony <data_root>/cache/Sony
# LoadPackedRawFromFile appends '.npy' to the RAW path the dataset gives it, so only the image
# prefix and the loading step change; AlignRawAnnotations scales boxes to the stored size with
# raw_meta's visible_shape, and RawCocoMetric maps predictions back the same way.
_base_ = ['./raw_nod_sony.py']

cache_prefix = 'cache/Sony/'
# the entries must be fitted to the training scale (the converter's --scale); stale or
# foreign entries are refused by name
_load = dict(type='LoadPackedRawFromFile', color_space='xyz', scale=(1333, 800))
train_pipeline = [dict(_load, on_error='skip'), *_base_.train_pipeline[1:]]
test_pipeline = [_load, *_base_.test_pipeline[1:]]

train_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
