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

# Dataloader settings and evaluators: ./raw_coco_common.py.
_base_ = './raw_coco_common.py'

data_root = '{{$GENISP_LOD_ROOT:data/lod/}}'
# XYZ(D65) -> camera matrix of the Canon EOS 5D Mark IV (LibRaw's colour table, as in
# ../shared/cameras/color_matrices.json): LoadNumpyImageFromFile converts camera RGB to XYZ
# with it, as LoadRawImageFromFile does with the matrix of a RAW file's metadata.
lod_xyz_to_camera = [[0.6446, -0.0366, -0.0864],
                     [-0.4436, 1.2204, 0.2513],
                     [-0.0952, 0.2496, 0.6348]]
load_npy = dict(type='LoadNumpyImageFromFile', channel_layout='RGGB',
                xyz_to_camera=lod_xyz_to_camera, make='Canon', model='EOS 5D Mark IV',
                backend_args=_base_.backend_args)

# the RAW pipelines of ./raw_coco_common.py with this loader and without AlignRawAnnotations
train_pipeline = [load_npy] + [t for t in _base_.train_pipeline[1:]
                               if t['type'] != 'AlignRawAnnotations']
test_pipeline = [load_npy] + [t for t in _base_.test_pipeline[1:]
                              if t['type'] != 'AlignRawAnnotations']

train_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/lod_dark_train.json',
    data_prefix=dict(img='dark_raw/'),
    pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/lod_dark_val.json',
    data_prefix=dict(img='dark_raw/'),
    pipeline=test_pipeline))
test_dataloader = val_dataloader
