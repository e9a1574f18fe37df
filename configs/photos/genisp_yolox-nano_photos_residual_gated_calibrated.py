# The gated residual recipe (genisp_yolox-nano_photos_residual_gated.py) with its noise gate
# calibrated on held-out photos (_base_/held_out_gate_calibration.py): the ISP is fitted for
# three epochs on three quarters of the train photos, then only the gate's two parameters are
# trained, for three epochs, on the quarter it never saw. Why: fitted on the same photos, the
# learned correction lowers their loss and raises unseen photos', and the gate learns from
# them to keep it on clean captures (README, photos: the pipeline_loss table). The photo
# benchmark's GenISP (make photos), or alone:
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated_calibrated.py --work-dir DIR \
#       --train --seed 0 --train-darkness 2 10 50 200
_base_ = ['./genisp_yolox-nano_photos_residual_gated.py',
          './_base_/held_out_gate_calibration.py']
train_dataloader = dict(dataset=_base_.fit_part)
custom_hooks = [*_base_.custom_hooks, _base_.gate_calibration]
