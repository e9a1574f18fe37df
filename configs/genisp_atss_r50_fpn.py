# GenISP in front of a frozen COCO-pretrained ATSS R50-FPN.
_base_ = './genisp_retinanet.py'
model = dict(detector='mmdet::atss/atss_r50_fpn_1x_coco.py', detector_checkpoint='zoo')
