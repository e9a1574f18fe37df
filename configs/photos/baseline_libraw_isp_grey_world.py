# Baseline: LibRaw's conventional ISP with its own grey-world white balance instead of the
# file's as-shot multipliers (which, for the rendered DNGs, are the true illuminant):
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/baseline_libraw_isp_grey_world.py --work-dir work_dirs/libraw_grey
_base_ = './baseline_libraw_isp.py'
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadLibRawRenderedImage', white_balance='auto'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
