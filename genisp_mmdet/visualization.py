"""Pictures of what the ISP does: plain previews of packed RAW and panels of GenISP's stages."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from .color import apply_color_matrix, srgb_gamma_encode, xyz_to_linear_srgb


def preview_packed_raw(image, color_space: str = 'xyz', percentile: float = 99.0,
                       cam_to_xyz: Optional[Sequence[Sequence[float]]] = None) -> np.ndarray:
    """A plain, human-viewable rendering of a packed RAW image - no learning involved.

    Args:
        image: ``(3, H, W)`` tensor or array, linear XYZ (``color_space='xyz'``) or camera RGB,
            any exposure.
        color_space: ``'xyz'`` converts XYZ -> linear sRGB; ``'camera'``/``'rgb'`` show the
            channels as they are (camera RGB looks green: that is the sensor, not a bug).
        percentile: auto-exposure: this percentile of the luminance maps to white.
        cam_to_xyz: ``(3, 3)`` camera -> XYZ matrix; with ``color_space='camera'`` the image
            is converted to XYZ with it first, then shown as XYZ is.

    Returns:
        ``(H, W, 3)`` uint8 sRGB-encoded.
    """
    x = torch.as_tensor(image).detach().float()[None]
    if color_space == 'camera' and cam_to_xyz is not None:
        x = apply_color_matrix(x, torch.as_tensor(cam_to_xyz, dtype=torch.float32,
                                                  device=x.device))
        color_space = 'xyz'
    if color_space == 'xyz':
        x = xyz_to_linear_srgb(x)
    x = x.clamp_min(0)
    white = torch.quantile(x.mean(1).flatten()[::max(1, x[0, 0].numel() // 200_000)],
                           percentile / 100).clamp_min(1e-8)
    return to_uint8_image(srgb_gamma_encode(x / white)[0])


def to_uint8_image(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` RGB in [0, 1] -> ``(H, W, 3)`` uint8 RGB (clipped)."""
    return (image.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()


def label_image(image: np.ndarray, text: str) -> np.ndarray:
    """Write ``text`` on a dark strip at the top of an ``(H, W, 3)`` uint8 image (copy)."""
    image = np.ascontiguousarray(image.copy())
    scale = max(0.35, image.shape[1] / 640)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(image, (0, 0), (min(image.shape[1], tw + 6), th + base + 6), (0, 0, 0), -1)
    cv2.putText(image, text, (3, th + 3), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return image


#: Box colours (RGB), cycled by class index.
BOX_COLOURS = ((230, 60, 60), (60, 120, 255), (250, 200, 40), (60, 220, 120), (200, 80, 220),
               (40, 200, 220))


def draw_detections(image: np.ndarray, bboxes, scores, labels, classes: Sequence[str],
                    score_thr: float = 0.3) -> np.ndarray:
    """Boxes ``(N, 4)`` (``x0, y0, x1, y1`` in the image's pixels) with ``score >= score_thr``
    drawn on a copy of an ``(H, W, 3)`` uint8 RGB image, labelled with class and score; line
    width and text grow with the image."""
    image = np.ascontiguousarray(image.copy())
    thickness = max(1, round(max(image.shape[:2]) / 500))
    font = 0.3 * thickness
    for box, score, label in zip(np.asarray(bboxes, np.float64), np.asarray(scores),
                                 np.asarray(labels)):
        if score < score_thr:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        colour = BOX_COLOURS[int(label) % len(BOX_COLOURS)]
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, thickness)
        cv2.putText(image, f'{classes[int(label)][:10]} {float(score):.2f}',
                    (x0, max(8 * thickness, y0 - 2)), cv2.FONT_HERSHEY_SIMPLEX, font, colour,
                    thickness, cv2.LINE_AA)
    return image


def grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 4) -> np.ndarray:
    """Tile equally-sized ``(H, W, 3)`` uint8 images into one picture with white gaps."""
    h, w = rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    canvas = np.full((len(rows) * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            if img.shape[:2] != (h, w):
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            canvas[y:y + h, x:x + w] = img
    return canvas


@torch.no_grad()
def isp_stage_panel(isp, image: torch.Tensor, color_space: str = 'xyz') -> Tuple[
        np.ndarray, dict]:
    """One row showing GenISP's stages on a packed RAW image ``(3, H, W)``:
    input (plain preview), after ConvWB, after ConvCC (both previewed with the same plain
    auto-exposure, as XYZ), and the ISP's output as the detector sees it.

    Returns ``(panel (H, W * 4 + gaps, 3) uint8, params)`` with the predicted ``wb_gains``
    (3,) and ``cc_matrix`` (3, 3) as lists.
    """
    out = isp.forward_with_params(image[None].float())
    gains = out['wb_gains'][0].tolist()
    tiles: List[np.ndarray] = [
        label_image(preview_packed_raw(image, color_space), 'input (plain preview)'),
        label_image(preview_packed_raw(out['white_balanced'][0], color_space),
                    'ConvWB ' + ' '.join(f'{g:.2f}' for g in gains)),
        label_image(preview_packed_raw(out['color_corrected'][0], color_space), 'ConvCC'),
        label_image(to_uint8_image(out['image'][0]), 'GenISP output'),
    ]
    return grid([tiles]), dict(wb_gains=gains, cc_matrix=out['cc_matrix'][0].tolist())
