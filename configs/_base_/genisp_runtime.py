# Runtime settings shared by GenISP configs: MMDetection's defaults, plus our plugin and a
# visualisation hook that draws on the ISP's output (a RAW path is not an image mmcv can read).
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['genisp_mmdet'], allow_failed_imports=False)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='coco/bbox_mAP', rule='greater'),
    visualization=dict(type='RawDetVisualizationHook'))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
# distributed runs: fail loudly if the ranks' ISPs ever diverge; on CPU, reuse freed memory;
# report unreadable training files (on_error='skip') and stop above 1 % of the data; log
# GenISP's gains and matrix, warn when they saturate, stop on a non-finite loss
custom_hooks = [dict(type='ISPSyncCheckHook'), dict(type='KeepFreedMemoryHook'),
                dict(type='BadFilesHook', max_bad_fraction=0.01),
                dict(type='ISPWatchHook', interval=50)]
