# The gated recipe trained through two frozen detectors at once: YOLOX-Nano (which also
# predicts) and NanoDet-m, their losses summed (FrozenDetector(also_through=...)). NanoDet-m
# sees the same 416-pixel renderings as YOLOX-Nano during training, prepared its own way
# (BGR, ImageNet mean/std); at test time each detector gets its own input size
# (this config for YOLOX-Nano, genisp_nanodet-m_photos_residual_gated.py --isp-from for
# NanoDet-m). tools/demo/run_photos_detectors.py trains and scores it.
_base_ = './genisp_yolox-nano_photos_residual_gated.py'
model = dict(also_through=[dict(
    name='nanodet-m', detector='{{ fileDirname }}/../detectors/nanodet-m.py',
    detector_checkpoint='checkpoints/nanodet-m_coco_rangilyu.pth')])
