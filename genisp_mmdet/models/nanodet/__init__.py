"""NanoDet-m (RangiLyu, 2020; Apache-2.0) as MMDetection modules, so its COCO weights run behind
GenISP like any mmdet detector: the ShuffleNetV2 backbone with LeakyReLU, the PAN neck without
output convs and the GFL head whose shared depthwise convs feed one 1x1 conv per level for
classes and box distributions. Training reuses mmdet's GFL pieces (ATSS assignment, quality
focal, distribution focal and GIoU losses, the integral over the box distribution)."""
from .head import NanoDetHead
from .neck import NanoDetPAN
from .shufflenet import NanoDetShuffleNetV2

__all__ = ['NanoDetShuffleNetV2', 'NanoDetPAN', 'NanoDetHead']
