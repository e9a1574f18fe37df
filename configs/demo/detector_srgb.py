# Pretraining of the demo's small detector (the light RetinaNet) on well-lit sRGB renderings
# of the train scenes - the stand-in for COCO pretraining:
#   python tools/train.py configs/demo/detector_srgb.py
_base_ = ['./_base_/demo_detector.py', './_base_/demo_srgb_pretraining.py']
