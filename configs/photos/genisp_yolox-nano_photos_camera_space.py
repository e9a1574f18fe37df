# Ablation: GenISP without the XYZ transform - it sees the camera's native RGB, so what it
# learns is tied to the training camera's colour filters.
_base_ = './genisp_yolox-nano_photos.py'
_load = dict(type='LoadRawImageFromFile', color_space='camera')
_annotations = [dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations')]
_resize = dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True)
_pack = dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}})
train_dataloader = dict(dataset=dict(
    pipeline=[dict(_load, on_error='skip'), *_annotations, _resize,
              dict(type='RandomFlip', prob=0.5), _pack]))
val_dataloader = dict(dataset=dict(pipeline=[_load, *_annotations, _resize, _pack]))
test_dataloader = val_dataloader
