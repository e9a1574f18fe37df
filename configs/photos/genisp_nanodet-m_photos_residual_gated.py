# The gated recipe (genisp_yolox-nano_photos_residual_gated.py) in front of the frozen NanoDet-m
# instead of YOLOX-Nano: the same ISP (so an ISP trained through either detector loads into
# the other's config with tools/test.py --isp-from), NanoDet-m's own input (320x320, BGR,
# ImageNet mean/std, padded with 0 after normalisation). The cross-detector benchmark:
#   python tools/demo/run_photos_detectors.py --coco-root ../shared/datasets/coco-photos
_base_ = './genisp_yolox-nano_photos_residual_gated.py'
img_scale = (320, 320)
model = dict(
    detector='{{ fileDirname }}/../detectors/nanodet-m.py',
    detector_checkpoint='checkpoints/nanodet-m_coco_rangilyu.pth',
    data_preprocessor=dict(pad_value=0.0))
_load = dict(type='LoadRawImageFromFile', color_space='xyz')
_annotations = [dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations')]
_resize_wb = [dict(type='Resize', scale=img_scale, keep_ratio=True),
              dict(type='AsShotWhiteBalance')]
_pack = dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}})
train_dataloader = dict(dataset=dict(
    pipeline=[dict(_load, on_error='skip'), *_annotations, *_resize_wb,
              dict(type='RandomFlip', prob=0.5), _pack]))
val_dataloader = dict(dataset=dict(pipeline=[_load, *_annotations, *_resize_wb, _pack]))
test_dataloader = val_dataloader
