# Baseline: LibRaw's conventional ISP (camera white balance, demosaic, sRGB, auto-brightness)
# in front of the same frozen YOLOX-Nano. Nothing is learned:
#   python tools/test.py configs/photos/baseline_libraw_isp.py
_base_ = './genisp_yolox-nano_photos.py'
model = dict(data_preprocessor=dict(isp=None))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadLibRawRenderedImage'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
