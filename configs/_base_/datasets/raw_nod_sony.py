# RAW-NOD (Morawski et al., GenISP, CVPRW 2022), Sony RX100 VII subset: dark .ARW files, boxes
# of person/bicycle/car on the rendered 5472x3648 frame; annotation files used as published.
# Layout (docs/datasets.md):
#   <data_root>/annotations/Sony/raw_new_Sony_RX100m7_{train,val}.json
#   <data_root>/annotations/Sony/raw_str_labeled_new_Sony_RX100m7_test.json  (int image ids)
#   <data_root>/Sony/DSC01881.ARW ...                                           (all splits)
# data_root: set GENISP_RAW_NOD_ROOT=/path/to/raw-nod/ (read when the config is parsed), or
#   --cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...
#                 test_dataloader.dataset.data_root=...
# (the evaluators read the annotation file of their dataset, so they follow).
# Pipelines, dataloader settings and evaluators: ./raw_coco_common.py.
_base_ = './raw_coco_common.py'

data_root = '{{$GENISP_RAW_NOD_ROOT:data/raw-nod/}}'

train_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/Sony/raw_new_Sony_RX100m7_train.json',
    data_prefix=dict(img='Sony/')))
val_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/Sony/raw_new_Sony_RX100m7_val.json',
    data_prefix=dict(img='Sony/')))
test_dataloader = dict(dataset=dict(
    data_root=data_root,
    ann_file='annotations/Sony/raw_str_labeled_new_Sony_RX100m7_test.json',
    data_prefix=dict(img='Sony/')))
