# Baseline: the picture configs/photos/genisp_yolox-nano_photos_residual_wb.py starts from,
# nothing learned - XYZ white-balanced with the file's as-shot multipliers, converted to
# linear sRGB, one global gain (auto exposure) and the sRGB curve, in front of the same frozen
# YOLOX-Nano:
#   python tools/test.py configs/photos/baseline_xyz_wb_gain_gamma.py
_base_ = './genisp_yolox-nano_photos_residual_wb.py'
model = dict(data_preprocessor=dict(isp=dict(_delete_=True, type='GainGammaISP',
                                             color_space='xyz')))
