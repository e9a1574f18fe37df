# GenISP on the photo benchmark with two changes from the paper's design (README, photos:
# the diagnosis that led to them):
# - every capture is white-balanced with the multipliers its file records (AsShotWhiteBalance,
#   the information LibRaw's ISP uses) before ConvWB, which then corrects what is left;
# - the shallow ConvNet adds a correction to a fixed gain + sRGB-curve rendering of the XYZ
#   image (residual_to='xyz') instead of rendering from random weights, so at step 0 GenISP
#   renders exactly configs/photos/baseline_xyz_wb_gain_gamma.py's picture;
# - Adam at 2e-4, a tenth of the shipped rate: it starts from a picture the detector reads
#   well, and the higher rate traded more of the clean captures' AP for the noisy ones'.
_base_ = './genisp_yolox-nano_photos.py'
optim_wrapper = dict(optimizer=dict(lr=2e-4))
model = dict(data_preprocessor=dict(isp=dict(residual_to='xyz')))
_load = dict(type='LoadRawImageFromFile', color_space='xyz')
_annotations = [dict(type='LoadAnnotations', with_bbox=True), dict(type='AlignRawAnnotations')]
# linear, so it runs on the resized image, where it costs least
_resize_wb = [dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=True),
              dict(type='AsShotWhiteBalance')]
_pack = dict(type='PackDetInputs', meta_keys={{_base_.raw_meta_keys}})
train_dataloader = dict(dataset=dict(
    pipeline=[dict(_load, on_error='skip'), *_annotations, *_resize_wb,
              dict(type='RandomFlip', prob=0.5), _pack]))
val_dataloader = dict(dataset=dict(pipeline=[_load, *_annotations, *_resize_wb, _pack]))
test_dataloader = val_dataloader
