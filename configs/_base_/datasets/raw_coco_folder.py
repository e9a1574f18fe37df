# Template: any folder of RAW files (.ARW/.NEF/.CR2/.DNG... anything LoadRawImageFromFile
# reads) with COCO-format box annotations on the full-size rendered frame. Copy this file or
# inherit it and override the names below (docs/datasets.md, "Any COCO-annotated RAW folder"):
#   <data_root>/annotations/{train,val,test}.json   images[].file_name = the RAW file name,
#                                                   width/height = the annotated frame
#   <data_root>/raw/<file_name>
# Category names must be COCO names (labels are assigned by name into the detector's 80-class
# space; ids may be anything, the metric writes the file's own ids). Restrict the classes with
# metainfo=dict(classes=('person', 'car')) in each dataset dict.

# Pipelines, dataloader settings and evaluators: ./raw_coco_common.py (copy this file next to
# it, or change the path below).
_base_ = './raw_coco_common.py'

data_root = '{{$GENISP_RAW_ROOT:data/my-raw/}}'
train_ann_file = 'annotations/train.json'
val_ann_file = 'annotations/val.json'
test_ann_file = 'annotations/test.json'
img_prefix = 'raw/'

train_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file=train_ann_file, data_prefix=dict(img=img_prefix)))
val_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file=val_ann_file, data_prefix=dict(img=img_prefix)))
test_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file=test_ann_file, data_prefix=dict(img=img_prefix)))
