# GenISP on the embedded benchmark: trained on one simulated camera's dark DNGs (Sony RX100 VII
# matrix) in front of the frozen small detector pretrained on well-lit sRGB renderings
# (detector_srgb.py), evaluated on a camera it never saw (Nikon D750 matrix, other CFA order).
#   make demo      (runs everything: data, detector, this config, baselines, report)
_base_ = [
    './_base_/demo_detector.py',
    './_base_/demo_data.py',
    '../_base_/schedules/genisp_adam_15e.py',
    '../_base_/genisp_runtime.py',
]
model = dict(
    _delete_=True,
    type='FrozenDetector',
    detector={{_base_.model}},
    detector_checkpoint='work_dirs/demo/detector_srgb/final.pth',
    # The paper's 256x256 copy exists to make full-size frames cheap for ConvWB/ConvCC; the
    # demo's packed captures are 128x96, so a 256 copy would be an upsampling that adds no
    # information and costs the parameter nets 4x their work at 128 (most of a training step).
    data_preprocessor=dict(isp=dict(type='GenISP', thumbnail_size=128)))

# The paper's Adam 1e-2 moves the parameter nets' zero-initialised last layers so far in the
# first steps that ConvWB's gains hit their bounds and stay there (measured: every image got
# gains (0.06, 16, 0.06), AP 0.028 on the unseen camera); 1e-3 trains smoothly here.
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
                        milestones=[8, 11], gamma=0.1)]
default_hooks = dict(
    checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=10))
