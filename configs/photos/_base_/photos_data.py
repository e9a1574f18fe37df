# The low-light COCO-photo RAW benchmark: real COCO photographs "unprocessed" into dark DNG
# captures of five simulated cameras (tools/make_unprocessed_coco.py; tools/demo/run_photos.py
# renders them and runs everything). Layout under data_root:
#   <camera>/x<k>/<split>/<stem>.dng     k = how many times darker than a normal exposure
#   annotations/<camera>_x<k>_<split>.json  (COCO; the DNG's full frame, 2x the photo)
#   annotations/<camera>_train.json       every darkness level of a camera's train captures
# Train: the Sony RX100 VII's captures of the train photos at every darkness level; test: one
# (camera, darkness) pair (tools/demo/run_photos.py scores all of them in one run).
data_root = '{{$GENISP_PHOTOS_ROOT:data/coco-photos-raw/}}'
train_camera = 'sony_rx100m7'
test_camera = 'nikon_d750'
test_darkness = 50
# the frozen detector's own test size (YOLOX-Nano: 416x416, keep ratio)
img_scale = (416, 416)
raw_meta_keys = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                 'flip_direction', 'raw_meta', 'ann_to_img')

train_pipeline = [
    dict(type='LoadRawImageFromFile', color_space='xyz', on_error='skip'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]
test_pipeline = [
    dict(type='LoadRawImageFromFile', color_space='xyz'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='PackDetInputs', meta_keys=raw_meta_keys),
]


train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # every darkness level of the train camera in one file (tools/demo/run_photos.py writes it)
    dataset=dict(type='RawCocoDataset', data_root=data_root,
                 ann_file=f'annotations/{train_camera}_train.json',
                 data_prefix=dict(img=f'{train_camera}/'),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RawCocoDataset', data_root=data_root,
                 ann_file=f'annotations/{test_camera}_x{test_darkness}_val.json',
                 data_prefix=dict(img=f'{test_camera}/x{test_darkness}/val/'),
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='RawCocoMetric', metric='bbox')
test_evaluator = val_evaluator
