# GenISP as the paper designed it, on real COCO photographs captured in the dark by simulated
# cameras, in front of the frozen, COCO-pretrained YOLOX-Nano (official Megvii weights
# converted by tools/model_converters/yolox_onnx_to_mmdet.py). Trained on the Sony RX100 VII's
# captures of the train photos at the benchmark's darkness levels; tools/demo/run_photos.py
# scores it on the val photos of all five cameras with --paper-design (the benchmark's own
# GenISP is genisp_yolox-nano_photos_residual_gated.py, built on this config).
#   python tools/demo/run_photos.py --coco-root ../shared/datasets/coco-photos --paper-design
_base_ = [
    './_base_/photos_data.py',
    '../_base_/schedules/genisp_adam_15e.py',
    '../_base_/genisp_runtime.py',
]
model = dict(
    type='FrozenDetector',
    detector='mmdet::yolox/yolox_nano_8xb8-300e_coco.py',
    detector_checkpoint='checkpoints/yolox-nano_coco_megvii.pth',
    # as configs/genisp_yolox-nano.py: no multi-scale batch augment, padding with YOLOX's 114
    data_preprocessor=dict(isp=dict(type='GenISP'), batch_augments=None, pad_value=114.0))

# Batch 4 at Adam 2e-3: on CPU the full-resolution ISP costs more than YOLOX-Nano itself, so
# the budget buys few steps; batch 8 at 1e-3 (the demo's rate; the paper's 1e-2 saturated
# ConvWB's gains there) was still far from converged after 144 steps (README, photos).
train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_epochs = 3
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, begin=0, end=max_epochs,
                        milestones=[2], gamma=0.1)]
default_hooks = dict(
    checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=10))
randomness = dict(seed=0)
