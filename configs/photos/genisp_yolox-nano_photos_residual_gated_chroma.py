# The gated residual recipe (genisp_yolox-nano_photos_residual_gated.py) with its noise gate
# reading the noise of the colour differences instead of the luminance (GenISP(noise_signal=
# 'chroma')): scene texture raised the luminance estimate as much as noise did, so clean
# textured captures got much of the correction learned for noisy ones (README, photos).
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated_chroma.py --work-dir DIR \
#       --train --seed 0 --train-darkness 2 10 50 200
_base_ = './genisp_yolox-nano_photos_residual_gated.py'
model = dict(data_preprocessor=dict(isp=dict(noise_signal='chroma')))
