# Baseline: LibRaw's conventional ISP in front of the demo's frozen FCOS (the second detector
# of the cross-detector table). Nothing is learned:
#   python tools/test.py configs/demo/baseline_libraw_isp_fcos.py
_base_ = './baseline_libraw_isp.py'
model = dict(detector='{{ fileDirname }}/_base_/demo_detector_fcos.py',
             detector_checkpoint='work_dirs/demo/detector_srgb_fcos/final.pth')
