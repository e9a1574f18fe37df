# Ablation of the gated residual recipe without the XYZ transform: the ISP sees (white-balanced)
# camera RGB and its fixed rendering takes camera RGB as if it were linear sRGB, so what it
# learns is tied to the training camera's colour filters.
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated_camera_space.py --work-dir DIR \
#       --train --seed 0 --train-darkness 2 10 50 200
_base_ = './genisp_yolox-nano_photos_residual_gated.py'
model = dict(data_preprocessor=dict(isp=dict(residual_to='camera')))
_load = dict(type='LoadRawImageFromFile', color_space='camera')
_annotations = [dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations')]
_resize_wb = [dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
              dict(type='AsShotWhiteBalance')]
_pack = dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}})
train_dataloader = dict(dataset=dict(
    pipeline=[dict(_load, on_error='skip'), *_annotations, *_resize_wb,
              dict(type='RandomFlip', prob=0.5), _pack]))
val_dataloader = dict(dataset=dict(pipeline=[_load, *_annotations, *_resize_wb, _pack]))
test_dataloader = val_dataloader
