"""A YOLOX detection + COCO evaluation pipeline on onnxruntime, independent of MMDetection's
models, transforms and metrics: the reference that the converted MMDetection model is checked
against.

    letterbox (keep-ratio resize with cv2 INTER_LINEAR, sizes rounded as mmcv.imrescale does,
    pad bottom/right with 114) -> BGR float 0-255 -> onnxruntime -> decode (grid + stride
    offsets, exp for w/h) -> score = obj * best class score, one label per anchor point (as
    YOLOX's and MMDetection's YOLOX post-processing do) -> boxes back to the original image
    (divided by the per-axis resize factors) -> per-class NMS -> pycocotools COCOeval

The thresholds come from the MMDetection config's ``model.test_cfg`` (``score_thr``,
``nms.iou_threshold``, ``max_per_img`` if set), read as a plain config file with mmengine.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

#: YOLOX's COCO class order (label index -> name); category ids come from the annotation
#: file, by name.
COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat',
    'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack',
    'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball',
    'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket',
    'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair',
    'couch', 'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse',
    'remote', 'keyboard', 'cell phone', 'microwave', 'oven', 'toaster', 'sink',
    'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush')

STRIDES = (8, 16, 32)


def test_cfg_thresholds(config: str = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py') -> dict:
    """``score_thr``, ``iou_thr``, ``max_per_img`` (None if unset) of the config's test_cfg."""
    from mmengine.config import Config
    if '::' in config:
        from mmengine.utils import get_installed_path
        package, rel = config.split('::', 1)
        config = os.path.join(get_installed_path(package), '.mim', 'configs', rel)
    test_cfg = Config.fromfile(config).model.test_cfg
    return dict(score_thr=float(test_cfg.score_thr),
                iou_thr=float(test_cfg.nms.iou_threshold),
                max_per_img=test_cfg.get('max_per_img'))


def letterbox(img: np.ndarray, size: int = 416,
              pad_value: int = 114) -> Tuple[np.ndarray, Tuple[float, float]]:
    """Keep-ratio resize to fit ``size`` x ``size`` and pad bottom/right. Returns the padded
    uint8 image and the per-axis factors ``(new_w / w, new_h / h)`` of the rounded size."""
    h, w = img.shape[:2]
    scale = min(size / max(h, w), size / min(h, w))
    new_w, new_h = int(w * scale + 0.5), int(h * scale + 0.5)
    resized = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((size, size, img.shape[2]), pad_value, dtype=img.dtype)
    canvas[:new_h, :new_w] = resized
    return canvas, (new_w / w, new_h / h)


def load_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)  # BGR uint8
    if img is None:
        raise FileNotFoundError(f'cannot read image {path}')
    return img


def to_input(letterboxed: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` BGR uint8 -> ``(1, 3, H, W)`` float32, 0-255, no mean/std."""
    return np.ascontiguousarray(letterboxed.transpose(2, 0, 1)[None].astype(np.float32))


class YoloxOnnx:
    """An onnxruntime session of a YOLOX export (``[1, 3, S, S]`` -> ``[1, N, 85]``)."""

    def __init__(self, onnx_path: str, threads: Optional[int] = None):
        import onnxruntime as ort
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(onnx_path, options,
                                            providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name
        self.size = int(self.session.get_inputs()[0].shape[-1])

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: inputs})[0]


def grid_priors(size: int = 416, strides: Sequence[int] = STRIDES) -> np.ndarray:
    """``(N, 3)`` = (x, y, stride) of each anchor point, levels in stride order, row-major."""
    out = []
    for s in strides:
        n = size // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing='ij')
        out.append(np.stack([xs.ravel() * s, ys.ravel() * s,
                             np.full(n * n, s)], 1).astype(np.float32))
    return np.concatenate(out)


def decode(raw: np.ndarray, priors: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``raw (N, 85)`` -> boxes ``(N, 4)`` xyxy in the network input frame, objectness
    ``(N,)``, class scores ``(N, C)``."""
    stride = priors[:, 2:3]
    centre = raw[:, :2] * stride + priors[:, :2]
    wh = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1)
    return boxes, raw[:, 4], raw[:, 5:]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> np.ndarray:
    """Greedy NMS, indices kept in descending score order (IoU with areas w * h, no +1)."""
    order = np.argsort(-scores, kind='stable')
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= iou_thr]
    return np.asarray(keep, dtype=np.int64)


def postprocess(raw: np.ndarray, scale_factor: Tuple[float, float], priors: np.ndarray,
                score_thr: float, iou_thr: float,
                max_per_img: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's ``(N, 85)`` output -> boxes (original image frame), scores, labels."""
    boxes, obj, cls = decode(raw, priors)
    labels = cls.argmax(1)
    scores = obj * cls[np.arange(len(cls)), labels]
    valid = scores >= score_thr
    boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
    boxes = boxes / np.array(scale_factor * 2, dtype=np.float32)
    keep = []
    for label in np.unique(labels):
        idx = np.nonzero(labels == label)[0]
        keep.append(idx[nms(boxes[idx], scores[idx], iou_thr)])
    keep = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    if max_per_img:
        keep = keep[:max_per_img]
    return boxes[keep], scores[keep], labels[keep]


def detect(onnx_path: str, image_paths: Sequence[str], thresholds: dict,
           threads: Optional[int] = None) -> List[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    model = YoloxOnnx(onnx_path, threads)
    priors = grid_priors(model.size)
    results = []
    for path in image_paths:
        img, scale_factor = letterbox(load_image(path), model.size)
        raw = model(to_input(img))[0]
        results.append(postprocess(raw, scale_factor, priors, **thresholds))
    return results


def evaluate(onnx_path: str, ann_file: str, img_dir: str, thresholds: Optional[dict] = None,
             max_dets: Sequence[int] = (100, 300, 1000), threads: Optional[int] = None) -> Dict:
    """COCO bbox evaluation of the export on the images of ``ann_file``.

    ``max_dets`` defaults to what MMDetection's CocoMetric sets (its ``proposal_nums``), so
    that ``bbox_mAP`` (AP at the last of them) is the number ``tools/test.py`` reports;
    pycocotools' own default is (1, 10, 100). Returns ``bbox_mAP``, ``bbox_mAP_50``, the 12
    COCOeval ``stats`` and the number of detections."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    thresholds = thresholds or test_cfg_thresholds()
    coco = COCO(ann_file)
    name_to_id = {c['name']: c['id'] for c in coco.loadCats(coco.getCatIds())}
    missing = [n for n in COCO_CLASSES if n not in name_to_id]
    if missing:
        raise ValueError(f'{ann_file}: no categories named {missing}')
    cat_ids = [name_to_id[n] for n in COCO_CLASSES]
    img_ids = sorted(coco.getImgIds())
    infos = coco.loadImgs(img_ids)
    results = detect(onnx_path, [os.path.join(img_dir, i['file_name']) for i in infos],
                     thresholds, threads)
    dets = []
    for info, (boxes, scores, labels) in zip(infos, results):
        for box, score, label in zip(boxes.tolist(), scores.tolist(), labels.tolist()):
            dets.append(dict(image_id=info['id'], category_id=cat_ids[label], score=score,
                             bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
    if not dets:
        return dict(bbox_mAP=0.0, bbox_mAP_50=0.0, stats=[0.0] * 12, detections=0)
    coco_eval = COCOeval(coco, coco.loadRes(dets), 'bbox')
    coco_eval.params.catIds = cat_ids
    coco_eval.params.imgIds = img_ids
    coco_eval.params.maxDets = list(max_dets)
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    stats = [float(s) for s in coco_eval.stats]
    return dict(bbox_mAP=stats[0], bbox_mAP_50=stats[1], stats=stats, detections=len(dets))


if __name__ == '__main__':  # python -m tests.reference.yolox_onnxruntime ONNX ANN_FILE IMG_DIR
    import sys
    print(evaluate(*sys.argv[1:4]))
