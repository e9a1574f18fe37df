# Ablation of the calibrated recipe (genisp_yolox-nano_photos_residual_gated_calibrated.py)
# without the XYZ transform: the gated camera-space ablation with the same calibration.
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated_calibrated_camera_space.py \
#       --work-dir DIR --train --seed 0 --train-darkness 2 10 50 200
_base_ = ['./genisp_yolox-nano_photos_residual_gated_camera_space.py',
          './_base_/held_out_gate_calibration.py']
train_dataloader = dict(dataset=_base_.fit_part)
custom_hooks = [*_base_.custom_hooks, _base_.gate_calibration]
