# GenISP in front of the demo's second detector, FCOS (_base_/demo_detector_fcos.py, pretrained
# by detector_srgb_fcos.py and frozen); otherwise genisp_demo.py. make demo trains it (the
# upper bound of the cross-detector table) and scores the ISP trained through the RetinaNet in
# front of FCOS with it (tools/test.py configs/demo/genisp_demo_fcos.py --isp-from CKPT).
_base_ = './genisp_demo.py'
model = dict(detector='{{ fileDirname }}/_base_/demo_detector_fcos.py',
             detector_checkpoint='work_dirs/demo/detector_srgb_fcos/final.pth')
