# Pretraining of the demo's second detector (FCOS on the same light backbone,
# _base_/demo_detector_fcos.py) exactly as detector_srgb.py pretrains the RetinaNet:
#   python tools/train.py configs/demo/detector_srgb_fcos.py
_base_ = ['./_base_/demo_detector_fcos.py', './_base_/demo_srgb_pretraining.py']
