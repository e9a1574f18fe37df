# GenISP given the camera's as-shot white balance: every capture is white-balanced with the
# multipliers its file records (AsShotWhiteBalance, the information LibRaw's ISP uses) before
# ConvWB, which then only corrects what is left.
_base_ = './genisp_yolox-nano_photos.py'
_load = dict(type='LoadRawImageFromFile', color_space='xyz')
_annotations = [dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations')]
# linear, so applying it to the resized image is exact and cheapest
_resize_wb = [dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
              dict(type='AsShotWhiteBalance')]
_pack = dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}})
train_dataloader = dict(dataset=dict(
    pipeline=[_load, *_annotations, *_resize_wb, dict(type='RandomFlip', prob=0.5), _pack]))
val_dataloader = dict(dataset=dict(pipeline=[_load, *_annotations, *_resize_wb, _pack]))
test_dataloader = val_dataloader
