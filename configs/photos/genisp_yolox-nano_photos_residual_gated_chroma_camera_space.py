# Ablation of genisp_yolox-nano_photos_residual_gated_chroma.py without the XYZ transform: the
# gated camera-space recipe, its gate reading the noise of the camera's colour differences.
#   python tools/analysis_tools/score_photos_config.py \
#       configs/photos/genisp_yolox-nano_photos_residual_gated_chroma_camera_space.py \
#       --work-dir DIR --train --seed 0 --train-darkness 2 10 50 200
_base_ = './genisp_yolox-nano_photos_residual_gated_camera_space.py'
model = dict(data_preprocessor=dict(isp=dict(noise_signal='chroma')))
