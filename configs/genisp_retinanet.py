# GenISP (Morawski et al., CVPRW 2022) in front of a frozen, COCO-pretrained RetinaNet R50-FPN.
# RAW-NOD: train on Sony RX100 VII .ARW, validate and test on the unseen Nikon D750 .NEF;
# COCO bbox mAP over person/bicycle/car with the detector's own COCO class ids.
#   python tools/train.py configs/genisp_retinanet.py
#   python tools/test.py configs/genisp_retinanet.py work_dirs/genisp_retinanet/epoch_15.pth
_base_ = [
    './_base_/datasets/raw_nod_sony.py',
    './_base_/schedules/genisp_adam_15e.py',
    './_base_/genisp_runtime.py',
]

model = dict(
    type='FrozenDetector',
    # the detector, its pre-processing (mean/std, RGB order, pad divisor) and test settings
    # come from MMDetection's own config; its weights from MMDetection's model zoo
    detector='mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    detector_checkpoint='https://download.openmmlab.com/mmdetection/v2.0/retinanet/'
    'retinanet_r50_fpn_1x_coco/retinanet_r50_fpn_1x_coco_20200130-c2398f9e.pth',
    data_preprocessor=dict(isp=dict(type='GenISP')),
    gray_world_weight=0.0)  # the paper's optional colour term; try 0.1 to enable it

# paper: batch 8, images resized to fit 1333x800 keeping aspect (see the dataset base)
train_dataloader = dict(batch_size=8)
# the generalisation setting: evaluate on a camera the ISP never saw
_nikon = dict(data_prefix=dict(img='Nikon/'))
val_dataloader = dict(dataset=dict(ann_file='annotations/Nikon/raw_new_Nikon750_val.json',
                                   **_nikon))
test_dataloader = dict(dataset=dict(ann_file='annotations/Nikon/raw_new_Nikon750_test.json',
                                    **_nikon))
