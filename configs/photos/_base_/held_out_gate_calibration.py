# What the calibrated recipes add to a gated one: fit on three quarters of the train photos
# (RawCocoDataset part='fit'; 96 of ../shared's 128), then, after the fitting epochs
# (train_cfg.max_epochs), three epochs of the noise gate alone on the quarter held out
# (part='held_out', 32 photos; every capture of a photo falls on the same side).
fit_part = dict(held_out_fraction=0.25, part='fit')
gate_calibration = dict(type='HeldOutCalibrationHook', epochs=3, trainable=['noise_gate'],
                        lr=1e-2, dataset_overrides=dict(part='held_out'))
