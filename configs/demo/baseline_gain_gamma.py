# Baseline: packed camera RAW with one global gain (auto exposure) and sRGB gamma, in front
# of the same frozen detector. Nothing is learned:
#   python tools/test.py configs/demo/baseline_gain_gamma.py
_base_ = './genisp_demo.py'
model = dict(data_preprocessor=dict(
    isp=dict(_delete_=True, type='GainGammaISP', color_space='camera')))
test_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadRawImageFromFile', color_space='camera'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='AlignRawAnnotations'),
    dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}}),
]))
