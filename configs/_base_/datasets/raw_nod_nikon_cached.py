# RAW-NOD Nikon from the decode-once packed cache <data_root>/cache/Nikon/ (what and why: see
# raw_nod_sony_cached.py, whose loading it keeps). Build the cache first (docs/datasets.md):
#   python tools/convert_raw_cache.py <data_root>/Nikon <data_root>/cache/Nikon
_base_ = ['./raw_nod_sony_cached.py']

cache_prefix = 'cache/Nikon/'
train_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_train.json',
    data_prefix=dict(img=cache_prefix)))
val_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_val.json', data_prefix=dict(img=cache_prefix)))
test_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_test.json',
    data_prefix=dict(img=cache_prefix)))
