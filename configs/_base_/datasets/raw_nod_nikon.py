# RAW-NOD (Morawski et al., GenISP, CVPRW 2022), Nikon D750 subset: dark .NEF files, boxes
# of person/bicycle/car on the rendered 3936x2624 frame; annotation files used as published
# (the test file declares all 80 COCO categories and has one zero-area box, ignored in eval).
# Layout (docs/datasets.md):
#   <data_root>/annotations/Nikon/raw_new_Nikon750_{train,val,test}.json
#   <data_root>/Nikon/DSC_1558.NEF ...                                         (all splits)
# Everything else is the Sony config's, data_root (GENISP_RAW_NOD_ROOT) included.
_base_ = './raw_nod_sony.py'

train_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_train.json', data_prefix=dict(img='Nikon/')))
val_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_val.json', data_prefix=dict(img='Nikon/')))
test_dataloader = dict(dataset=dict(
    ann_file='annotations/Nikon/raw_new_Nikon750_test.json', data_prefix=dict(img='Nikon/')))
