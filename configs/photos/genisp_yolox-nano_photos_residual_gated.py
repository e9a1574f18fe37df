# The residual recipe (genisp_yolox-nano_photos_residual_wb.py) with a learned noise gate: the
# ConvNet's correction is scaled per image by sigmoid(4 (a z + b)), z the log of the image's
# estimated noise level, so a clean capture can keep the fixed rendering the detector already
# reads well while a noisy one gets the learned correction. The gate's two parameters learn at
# 50x the rate (at 2e-4 they moved 0.02 in three epochs: the gate stayed at 1/2 everywhere).
# Train it on the RX100 VII's captures at 2x as well, so that clean captures are seen too
# (README, photos). The photo benchmark's GenISP (make photos; tools/demo/run_photos.py trains
# and scores it), or alone:
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated.py --work-dir DIR --train \
#       --seed 0 --train-darkness 2 10 50 200
_base_ = './genisp_yolox-nano_photos_residual_wb.py'
model = dict(data_preprocessor=dict(isp=dict(noise_gate=True)))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys=dict(noise_gate=dict(lr_mult=50.0))))
