# RAW-NOD Nikon from the decode-once packed cache <data_root>/cache/Nikon/ (what and why: see
# raw_nod_sony_cached.py). Build the cache first (docs/datasets.md):
#   python tools/convert_raw_cache.py <data_root>/Nikon <data_root>/cache/Nikon
_base_ = ['./raw_nod_nikon.py']

cache_prefix = 'cache/Nikon/'
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
