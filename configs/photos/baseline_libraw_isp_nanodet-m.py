# Baseline: LibRaw's conventional ISP in front of the frozen NanoDet-m (its own 320x320 input).
# Nothing is learned:
#   python tools/test.py configs/photos/baseline_libraw_isp_nanodet-m.py
_base_ = './baseline_libraw_isp.py'
model = dict(
    detector='{{ fileDirname }}/../detectors/nanodet-m.py',
    detector_checkpoint='checkpoints/nanodet-m_coco_rangilyu.pth',
    data_preprocessor=dict(pad_value=0.0))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadLibRawRenderedImage'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='Resize', scale=(320, 320), keep_ratio=True),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
