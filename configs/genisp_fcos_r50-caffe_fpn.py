# GenISP in front of a frozen COCO-pretrained FCOS R50-caffe (a BGR, caffe-normalised detector:
# the RAW preprocessor feeds it BGR with its own mean/std automatically).
_base_ = './genisp_retinanet.py'
model = dict(detector='mmdet::fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py',
             detector_checkpoint='zoo')
