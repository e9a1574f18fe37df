# The paper's schedule: Adam, lr 1e-2 -> 1e-3 (epoch 5) -> 1e-4 (epoch 10), 15 epochs, batch 8.
# Only the ISP's parameters reach the optimizer (the detector is frozen).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-2, betas=(0.9, 0.999), weight_decay=0.0),
    constructor='TrainableParamsOptimWrapperConstructor')
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=15, milestones=[5, 10], gamma=0.1)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=15, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# lr 1e-2 was set for batch 8 (paper); `--auto-scale-lr` rescales it for other batch sizes.
auto_scale_lr = dict(enable=False, base_batch_size=8)
