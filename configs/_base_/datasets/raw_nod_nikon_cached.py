# RAW-NOD Nikon from the decode-once packed cache <data_root>/cache/Nikon/ (what and why: see
# raw_nod_sony_cached.py). Build the cache first (docs/datasets.md):
#   python tools/convert_raw_cache.py <data_root>/Nikon <data_root>/cache/Nikon
_base_ = ['./raw_nod_nikon.py']

cache_prefix = 'cache/Nikon/'
train_pipeline = [dict(type='LoadPackedRawFromFile', on_error='skip'), *_base_.train_pipeline[1:]]
test_pipeline = [dict(type='LoadPackedRawFromFile'), *_base_.test_pipeline[1:]]

train_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
test_dataloader = dict(
    dataset=dict(data_prefix=dict(img=cache_prefix), pipeline=test_pipeline))
