# LOD (Hong et al., BMVC 2021) dark subset, Canon EOS 5D Mark IV, as re-packaged by Sony AI's
# RAM project: images are pre-packed RGGB .npy arrays of 1200x800 (not RAW files: no
# metadata), 8 classes. Boxes are given on the 1200x800 .npy frame, so no alignment step.
# Prepare (docs/datasets.md):
#   python tools/convert_lod.py all_dark-train.json <data_root>/annotations/lod_dark_train.json
#   python tools/convert_lod.py all_dark-val.json   <data_root>/annotations/lod_dark_val.json
# Layout:
#   <data_root>/annotations/lod_dark_{train,val}.json   (COCO category ids: car=3, bus=6, ...)
#   <data_root>/dark_raw/4432.npy ...
# data_root: GENISP_LOD_ROOT=/path/to/lod/, or
#   --cfg-options {train,val,test}_dataloader.dataset.data_root=...
# LOD has no test split: val is also the test set (as in RAM).

data_root = '{{$GENISP_LOD_ROOT:data/lod/}}'
dataset_type = 'RawCocoDataset'
backend_args = None
# RAW_META_KEYS (mmdet's defaults + 'raw_meta') and 'ann_to_img', the annotated -> image box
# map AlignRawAnnotations records, which RawCocoMetric inverts to score in the annotated frame.
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')
# XYZ(D65) -> camera matrix of the Canon EOS 5D Mark IV (LibRaw's colour table, as in
# ../shared/cameras/color_matrices.json): LoadNumpyImageFromFile converts camera RGB to XYZ
# with it, as LoadRawImageFromFile does with the matrix of a RAW file's metadata.
lod_xyz_to_camera = [[0.6446, -0.0366, -0.0864],
                     [-0.4436, 1.2204, 0.2513],
                     [-0.0952, 0.2496, 0.6348]]
load_npy = dict(type='LoadNumpyImageFromFile', channel_layout='RGGB',
                xyz_to_camera=lod_xyz_to_camera, make='Canon', model='EOS 5D Mark IV',
                backend_args=backend_args)

train_pipeline = [
    load_npy,
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    load_npy,
    dict(type='LoadAnnotations', with_bbox=True),
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
        ann_file='annotations/lod_dark_train.json',
        data_prefix=dict(img='dark_raw/'),
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
        ann_file='annotations/lod_dark_val.json',
        data_prefix=dict(img='dark_raw/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader

val_evaluator = dict(type='RawCocoMetric', metric='bbox', backend_args=backend_args)
test_evaluator = val_evaluator
