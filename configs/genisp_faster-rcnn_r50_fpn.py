# GenISP in front of a frozen COCO-pretrained Faster R-CNN R50-FPN (everything else as the paper).
_base_ = './genisp_retinanet.py'
model = dict(detector='mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
             detector_checkpoint='zoo')
