"""A straightforward NanoDet-m written from the upstream project's description (README of
../shared/detectors/nanodet_m and RangiLyu/nanodet's legacy v0.x code as documented there),
on the *upstream* state dict - no MMDetection, no converter - to check the plugin's
modules, converter and mmdet's GFL decoding against.

Forward: torchvision ShuffleNetV2 1.0x with LeakyReLU(0.1), stages 2-4; PAN: 1x1 lateral convs,
top-down ``x2`` bilinear upsampling added, bottom-up ``x0.5`` bilinear downsampling added; head
per level: 2 x (3x3 depthwise conv, BN, LeakyReLU, 1x1 conv, BN, LeakyReLU), then
``gfl_cls`` 1x1 conv with 80 + 4 x 8 outputs. Decoding per level: sigmoid class scores; box
side distances = softmax over 8 bins . (0..7) x stride from centres ``(i + 0.5) x stride``;
boxes clipped to the input; the 1000 locations of highest class score per level; then
class-wise NMS at IoU 0.6 over scores > 0.05, the 100 best.
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torchvision.models import shufflenet_v2_x1_0
from torchvision.ops import batched_nms

STRIDES = (8, 16, 32)
NUM_CLASSES, REG_MAX = 80, 7


def _leaky(x):
    return F.leaky_relu(x, 0.1)


def _bn(x, sd, prefix):
    return F.batch_norm(x, sd[prefix + '.running_mean'], sd[prefix + '.running_var'],
                        sd[prefix + '.weight'], sd[prefix + '.bias'], False, 0.0, 1e-5)


class NanoDetReference:
    def __init__(self, upstream_state: Dict[str, torch.Tensor]):
        sd = {k[len('model.'):] if k.startswith('model.') else k: v.float()
              for k, v in upstream_state.items()}
        self.sd = sd
        net = shufflenet_v2_x1_0(weights=None)
        net.load_state_dict({k[len('backbone.'):]: v for k, v in sd.items()
                             if k.startswith('backbone.')}, strict=False)
        for module in net.modules():  # every ReLU of torchvision's net is a LeakyReLU here
            for name, child in module.named_children():
                if isinstance(child, torch.nn.ReLU):
                    setattr(module, name, torch.nn.LeakyReLU(0.1))
        self.backbone = net.eval()

    @torch.no_grad()
    def head_outputs(self, x: torch.Tensor) -> List[torch.Tensor]:
        """``(B, 3, H, W)`` normalised BGR -> per level ``(B, 112, H/s, W/s)``."""
        sd, net = self.sd, self.backbone
        x = net.maxpool(net.conv1(x))
        c2 = net.stage2(x)
        c3 = net.stage3(c2)
        c4 = net.stage4(c3)
        lat = [F.conv2d(c, sd[f'fpn.lateral_convs.{i}.conv.weight'],
                        sd[f'fpn.lateral_convs.{i}.conv.bias']) for i, c in enumerate((c2, c3, c4))]
        lat[1] = lat[1] + F.interpolate(lat[2], scale_factor=2, mode='bilinear')
        lat[0] = lat[0] + F.interpolate(lat[1], scale_factor=2, mode='bilinear')
        lat[1] = lat[1] + F.interpolate(lat[0], scale_factor=0.5, mode='bilinear')
        lat[2] = lat[2] + F.interpolate(lat[1], scale_factor=0.5, mode='bilinear')
        outs = []
        for level, feat in enumerate(lat):
            for block in range(2):
                p = f'head.cls_convs.{level}.{block}'
                feat = F.conv2d(feat, sd[p + '.depthwise.weight'], padding=1,
                                groups=feat.shape[1])
                feat = _leaky(_bn(feat, sd, p + '.dwnorm'))
                feat = F.conv2d(feat, sd[p + '.pointwise.weight'])
                feat = _leaky(_bn(feat, sd, p + '.pwnorm'))
            outs.append(F.conv2d(feat, sd[f'head.gfl_cls.{level}.weight'],
                                 sd[f'head.gfl_cls.{level}.bias']))
        return outs

    @torch.no_grad()
    def detect(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One image ``(1, 3, H, W)`` -> ``boxes (N, 4)`` in input pixels, ``scores (N,)``,
        ``labels (N,)``."""
        height, width = x.shape[-2:]
        boxes_all, scores_all = [], []
        bins = torch.arange(REG_MAX + 1, dtype=torch.float32)
        for stride, out in zip(STRIDES, self.head_outputs(x)):
            out = out[0].permute(1, 2, 0)  # (h, w, 112)
            h, w = out.shape[:2]
            scores = out[..., :NUM_CLASSES].sigmoid().reshape(-1, NUM_CLASSES)
            dist = out[..., NUM_CLASSES:].reshape(-1, 4, REG_MAX + 1).softmax(-1) @ bins
            dist = dist * stride
            ys, xs = torch.meshgrid((torch.arange(h) + 0.5) * stride,
                                    (torch.arange(w) + 0.5) * stride, indexing='ij')
            cx, cy = xs.reshape(-1), ys.reshape(-1)
            if scores.shape[0] > 1000:
                keep = scores.max(1).values.topk(1000).indices
                scores, dist, cx, cy = scores[keep], dist[keep], cx[keep], cy[keep]
            boxes = torch.stack([(cx - dist[:, 0]).clamp(0, width),
                                 (cy - dist[:, 1]).clamp(0, height),
                                 (cx + dist[:, 2]).clamp(0, width),
                                 (cy + dist[:, 3]).clamp(0, height)], -1)
            boxes_all.append(boxes)
            scores_all.append(scores)
        boxes, scores = torch.cat(boxes_all), torch.cat(scores_all)
        idx, labels = (scores > 0.05).nonzero(as_tuple=True)
        boxes, scores = boxes[idx], scores[idx, labels]
        keep = batched_nms(boxes, scores, labels, 0.6)[:100]
        return boxes[keep], scores[keep], labels[keep]
