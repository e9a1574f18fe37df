"""GenISP: a minimal neural image signal processor (Morawski et al., CVPR-W 2022).

Pipeline on a packed, device-independent RAW image (``(B, 3, H, W)``, linear CIE XYZ or camera
RGB, black level removed and divided by the white level, so roughly [0, 1] and usually very
dark):

1. **ConvWB** - an image-to-parameters net looks at a 256x256 bilinear copy and predicts three
   channel gains ``w``; the full-resolution image becomes ``diag(w) @ xyz``.
2. **ConvCC** - the same design predicts nine numbers, a 3x3 matrix ``C`` applied per pixel as
   ``C @ rgb`` on the white-balanced image.
3. **Shallow ConvNet** - conv3x3x16, InstanceNorm, LeakyReLU, conv3x3x64, InstanceNorm,
   LeakyReLU, conv1x1x3 - renders the image the frozen detector sees.

Choices where the paper is silent (documented here so they can be ablated):

* Pooling: ``MaxPool2d(2)`` after each of the three convolutions (256 -> 128 -> 64 -> 32),
  then global average pooling to a 128-vector.
* MLP: ``Linear(128, 64) -> LeakyReLU -> Linear(64, n)``.
* Exposure: each image (and its 256x256 copy) is first divided by its own mean brightness,
  a fixed auto-exposure with no parameters. The inputs span 20x-1000x under-exposure: pixel
  values around 1e-3 would leave the parameter nets' LeakyReLU convs in a different regime
  per exposure, and - measured on the demo - make the shallow ConvNet's InstanceNorm useless,
  because the variance of such a signal (~1e-8) is far below its eps (1e-5), so the image
  reached the detector crushed to a flat grey. GenISP's gains then only need to encode
  colour, which is what they are for.
* Parameterisation and initialisation (stable step 0): gains are
  ``exp(b * tanh(mlp(x) / b))`` with ``b = log(max_gain)`` (positive, symmetric in log space,
  bounded to [1/max_gain, max_gain], default 16) and ``C = I + d * tanh(mlp(x) / d)`` (each
  entry moves at most ``d = max_matrix_delta``, default 2, from the identity). The bounds
  matter: the shallow ConvNet's InstanceNorm makes the loss blind to a common scale of the
  image, and with Adam at the paper's lr 1e-2 unbounded gains drifted to 1e37 within four
  steps (measured on the demo). The last MLP layer of both nets starts at zero, so at step 0
  the gains are exactly 1 and ``C`` is exactly the identity; gradients still reach the whole
  net because the last layer's weights receive them first.
* Output: the shallow ConvNet's output is an RGB image nominally in [0, 1] (display-referred,
  like the sRGB images detectors are trained on); the final 1x1 convolution starts with bias
  0.5 so the first images the detector sees are centred mid-grey rather than black.
"""
from __future__ import annotations

import math
import warnings
from functools import partial
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmdet.registry import MODELS

from ..color import (apply_channel_gains, apply_color_matrix, mean_brightness,
                     srgb_gamma_encode, xyz_to_linear_srgb)

#: what a failed torch.compile raises (dynamo and inductor errors, a C++ compiler that fails)
COMPILE_ERRORS = (torch._dynamo.exc.TorchDynamoException, torch._inductor.exc.CppCompileError)


class ImageToParameters(nn.Module):
    """Image-to-parameters net shared by ConvWB and ConvCC.

    Args:
        num_outputs: size of the predicted parameter vector (3 for gains, 9 for a matrix).
        channels: output channels of the three convolutions.
        kernel_sizes: kernel sizes of the three convolutions.
        mlp_hidden: width of the hidden MLP layer.
        negative_slope: LeakyReLU slope.

    Shapes:
        input ``(B, 3, h, w)`` (any size; GenISP passes 256x256) -> output ``(B, num_outputs)``.
        The last layer is zero-initialised, so the output starts at exactly 0.
    """

    def __init__(self,
                 num_outputs: int,
                 channels: Sequence[int] = (16, 32, 128),
                 kernel_sizes: Sequence[int] = (7, 5, 3),
                 mlp_hidden: int = 64,
                 negative_slope: float = 0.01):
        super().__init__()
        layers = []
        in_ch = 3
        for out_ch, k in zip(channels, kernel_sizes):
            # pooling before the activation: LeakyReLU is increasing, so max-pooling commutes
            # with it - the same function, with the activation on a quarter of the pixels
            layers += [nn.Conv2d(in_ch, out_ch, k, padding=k // 2),
                       nn.MaxPool2d(2), nn.LeakyReLU(negative_slope)]
            in_ch = out_ch
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.mlp = nn.Sequential(nn.Linear(in_ch, mlp_hidden), nn.LeakyReLU(negative_slope),
                                 nn.Linear(mlp_hidden, num_outputs))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.features(x).flatten(1))


def soft_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    """``bound * tanh(x / bound)``: the identity near 0, smoothly limited to (-bound, bound)."""
    return bound * torch.tanh(x / bound)


class ConvWB(nn.Module):
    """Predicts per-image white-balance gains ``(B, 3)`` in [1/max_gain, max_gain]
    (all exactly 1 at initialisation)."""

    def __init__(self, max_gain: float = 16.0, **kwargs):
        super().__init__()
        self.max_log_gain = math.log(max_gain)
        self.net = ImageToParameters(3, **kwargs)

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        return torch.exp(soft_bound(self.net(thumbnail).float(), self.max_log_gain))


class ConvCC(nn.Module):
    """Predicts a per-image colour-correction matrix ``(B, 3, 3)``, each entry within
    ``max_matrix_delta`` of the identity's (exactly the identity at initialisation)."""

    def __init__(self, max_matrix_delta: float = 2.0, **kwargs):
        super().__init__()
        self.max_matrix_delta = max_matrix_delta
        self.net = ImageToParameters(9, **kwargs)

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        delta = soft_bound(self.net(thumbnail).float(), self.max_matrix_delta).view(-1, 3, 3)
        return torch.eye(3, device=delta.device, dtype=delta.dtype) + delta


class ShallowConvNet(nn.Module):
    """conv3x3x16, IN, LeakyReLU, conv3x3x64, IN, LeakyReLU, conv1x1x3: ``(B,3,H,W)`` -> same.

    The layers are plain modules in ``body`` (so the state dict is that of the
    ``nn.Sequential`` of the paper's layers), but ``forward`` runs them through cheaper kernels
    with the same arithmetic. At full resolution this net is memory-bound (each 64-channel
    float32 map of a 1333x800 image is 260 MiB); measured forward + backward on CPU at
    1333x800 (docs/benchmarks.md, per-stage profile):

    * InstanceNorm as ``F.group_norm`` with one group per channel: the same normalisation
      (per image and channel over H x W, same eps and affine parameters) by a kernel that
      does not reshape the batch into channels and back;
    * LeakyReLU in place on the norm's fresh output (group norm's backward does not need its
      output), one 260 MiB buffer fewer per layer (InstanceNorm(64) + LeakyReLU: 392 vs
      499 ms with both changes);
    * for a single image, the 1x1 convolution as one matrix product over the channels, as
      PyTorch's CPU convolution takes a slow, zero-filling path for a 64 -> 3 1x1 kernel at
      batch 1 (125 vs 419 ms); batched, the convolution itself is the faster one.

    Under ``torch.compile`` the plain layers are traced instead (inductor fuses them itself).
    Outputs and gradients equal the plain layers' to float64 rounding (tested).
    """

    def __init__(self, channels: Sequence[int] = (16, 64), negative_slope: float = 0.01,
                 output_bias: float = 0.5):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.InstanceNorm2d(c1, affine=True),
            nn.LeakyReLU(negative_slope),
            nn.Conv2d(c1, c2, 3, padding=1), nn.InstanceNorm2d(c2, affine=True),
            nn.LeakyReLU(negative_slope),
            nn.Conv2d(c2, 3, 1))
        nn.init.constant_(self.body[-1].bias, output_bias)

    def stages(self) -> List[Tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
        """The steps ``forward`` runs, in order, with a label each (for profiling)."""
        conv1, norm1, act1, conv2, norm2, act2, out_conv = self.body
        return [(conv_label(conv1), conv1),
                (f'InstanceNorm({norm1.num_features}) + LeakyReLU',
                 partial(self.norm_act, norm=norm1, act=act1)),
                (conv_label(conv2), conv2),
                (f'InstanceNorm({norm2.num_features}) + LeakyReLU',
                 partial(self.norm_act, norm=norm2, act=act2)),
                (conv_label(out_conv) + ' (a matmul for one image)', self.pointwise_conv)]

    @staticmethod
    def norm_act(x: torch.Tensor, norm: nn.InstanceNorm2d, act: nn.LeakyReLU) -> torch.Tensor:
        """``act(norm(x))`` computed as group norm with one group per channel, then the
        activation in place on its fresh output."""
        x = F.group_norm(x, norm.num_features, norm.weight, norm.bias, norm.eps)
        return F.leaky_relu_(x, act.negative_slope)

    def pointwise_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The final 1x1 convolution; for a single image as ``weight (3, C) @ x (C, H*W) +
        bias``. Batched, PyTorch's convolution is the fast one and a batched matmul is not
        (measured forward + backward on CPU, 64 -> 3 channels, same pixel count: the matmul
        about 2x faster for one image, the convolution about 4x faster for a batch of 4)."""
        conv = self.body[-1]
        if x.shape[0] != 1:
            return conv(x)
        batch, channels, height, width = x.shape
        weight = conv.weight.view(conv.out_channels, channels)
        out = torch.matmul(weight, x.reshape(batch, channels, height * width))
        return (out + conv.bias.view(-1, 1)).view(batch, -1, height, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling() or torch.jit.is_tracing():
            # inductor fuses the plain layers itself; traced, the eager kernels above were
            # about 2x slower (the in-place activation and the matmul break its fusion). An
            # export traces the plain layers too: the batch-size branch would be frozen in.
            return self.body(x)
        for _, stage in self.stages():
            x = stage(x)
        return x


#: what :func:`estimate_noise` measures the noise of
NOISE_SIGNALS = ('luminance', 'chroma')


@torch.no_grad()
def estimate_noise(x: torch.Tensor, signal: str = 'luminance') -> torch.Tensor:
    """Per-image noise level of ``x (B, 3, H, W)``: the robust (median absolute deviation)
    standard deviation of a signal's second difference along rows, scaled for white noise.

    ``signal='luminance'``: the channel mean. Scene texture raises it as much as noise does
    (natural images put most of their detail there), so it ranks captures of one scene by noise
    but mixes textured clean captures with flat noisy ones. ``'chroma'``: the differences of the
    outer channels from the middle one (``x0 - x1``, ``x2 - x1``; root mean square of their two
    levels). Each channel's sensor noise is independent of the others' before the colour
    conversion and survives it, while scene texture is mostly common to the channels and
    cancels, so this reads noise far more than texture. A monotone proxy, not a calibrated
    measure. Returns ``(B,)``.
    """
    if signal not in NOISE_SIGNALS:
        raise ValueError(f'signal must be one of {NOISE_SIGNALS}, got {signal!r}')
    x = x.float()
    signals = [x.mean(dim=1)] if signal == 'luminance' else [x[:, 0] - x[:, 1],
                                                             x[:, 2] - x[:, 1]]
    variance = 0.0
    for y in signals:
        d = (y[..., 2:] - 2 * y[..., 1:-1] + y[..., :-2]).flatten(1)
        mad = _lower_median((d - _lower_median(d)[:, None]).abs())
        variance = variance + (1.4826 * mad) ** 2 / 6
    return (variance / len(signals)).sqrt()


def _lower_median(values: torch.Tensor) -> torch.Tensor:
    """``torch.median(values, dim=1)`` (the lower middle value) through a sort, which ONNX
    exports (as TopK) where it has no median."""
    return values.sort(dim=1).values[:, (values.shape[1] - 1) // 2]


def conv_label(conv: nn.Conv2d) -> str:
    """``'conv3x3 16->64'`` for a ``Conv2d(16, 64, 3)``."""
    kernel = 'x'.join(str(k) for k in conv.kernel_size)
    return f'conv{kernel} {conv.in_channels}->{conv.out_channels}'


@MODELS.register_module()
class GenISP(BaseModule):
    """GenISP: ConvWB -> ConvCC -> shallow ConvNet (see the module docstring).

    Args:
        thumbnail_size: side of the bilinear copy the parameter nets see (paper: 256).
        param_net: keyword arguments for both :class:`ImageToParameters` nets.
        max_gain: bound of ConvWB's gains, [1/max_gain, max_gain].
        max_matrix_delta: bound of each ConvCC matrix entry's distance from the identity.
        convnet: keyword arguments for :class:`ShallowConvNet`.
        use_wb, use_cc: switch ConvWB / ConvCC off for ablations (identity instead).
        eps: floor of the thumbnail's mean brightness (all-black inputs stay finite).
        residual_to: ``None`` (the paper: the shallow ConvNet renders the image) or the
            colour space of the input, ``'xyz'`` or ``'camera'``: the ConvNet then adds a
            correction to a fixed rendering of its input - converted to linear sRGB (XYZ) or
            taken as it is (camera RGB), one gain to mean ``residual_mean`` and the sRGB
            curve, as :class:`~genisp_mmdet.models.GainGammaISP` renders - and its final
            convolution starts at zero, so an untrained GenISP renders exactly that picture
            and training through the detector starts from an image the detector already
            reads (see the README's photo benchmark for why).
        residual_mean: the fixed rendering's mean linear brightness.
        noise_gate: with ``residual_to``, scale the ConvNet's correction per image by
            ``sigmoid(4 * (a * z + b))``, ``z`` the log of the image's noise level
            (:func:`estimate_noise`, after exposure normalisation, centred on -2.5), ``a``
            and ``b`` learned from zero: lets one ConvNet correct noisy captures strongly and
            clean ones little (the factor 4 lets Adam span the gate within a few hundred
            steps).
        noise_signal: what the gate measures the noise of (:func:`estimate_noise`):
            ``'luminance'`` (texture raises it too) or ``'chroma'`` (the channel
            differences, where scene texture mostly cancels).
        compile_convnet: run the shallow ConvNet through ``torch.compile`` (``True``, or a
            dict of ``torch.compile`` keyword arguments). It is memory-bound at full
            resolution (16- and 64-channel maps of the whole image) and inductor fuses its
            norm, activation and 1x1 convolution: measured 1.42x faster forward + backward
            than the eager kernels at 1333x800 on CPU with 2 threads, little gain with one
            thread and memory reuse (docs/benchmarks.md). Costs a compilation per new image shape
            (~4-8 s on CPU; shapes then become dynamic) and needs a C++ compiler on CPU or
            Triton on GPU; if compiling fails, GenISP warns once and stays eager. Same
            weights and state dict either way. Off by default: worth it for full-size
            training, not for small images.

    Shapes:
        ``forward(x)``: ``x (B, 3, H, W)`` packed RAW, linear XYZ or camera RGB, ~[0, 1]
        -> ``(B, 3, H, W)`` RGB nominally in [0, 1] for the detector. Each image gets its own
        gains and matrix. ``forward_with_params`` also returns them.
    """

    def __init__(self, thumbnail_size: int = 256, param_net: Dict | None = None,
                 convnet: Dict | None = None, use_wb: bool = True, use_cc: bool = True,
                 max_gain: float = 16.0, max_matrix_delta: float = 2.0,
                 eps: float = 1e-6, residual_to: str | None = None,
                 residual_mean: float = 0.18, noise_gate: bool = False,
                 noise_signal: str = 'luminance',
                 compile_convnet: bool | Dict = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if residual_to not in (None, 'xyz', 'camera'):
            raise ValueError(f"residual_to must be None, 'xyz' or 'camera', got {residual_to!r}")
        self.residual_to, self.residual_mean = residual_to, residual_mean
        if noise_gate and residual_to is None:
            raise ValueError('noise_gate scales the correction of residual_to; set both')
        self.noise_gate = nn.Parameter(torch.zeros(2)) if noise_gate else None
        if noise_signal not in NOISE_SIGNALS:
            raise ValueError(f'noise_signal must be one of {NOISE_SIGNALS}, got '
                             f'{noise_signal!r}')
        self.noise_signal = noise_signal
        self.thumbnail_size = thumbnail_size
        self.use_wb, self.use_cc, self.eps = use_wb, use_cc, eps
        self.conv_wb = ConvWB(max_gain, **(param_net or {})) if use_wb else None
        self.conv_cc = ConvCC(max_matrix_delta, **(param_net or {})) if use_cc else None
        self.convnet = ShallowConvNet(**(convnet or {}))
        if residual_to is not None:
            nn.init.zeros_(self.convnet.body[-1].weight)
            nn.init.zeros_(self.convnet.body[-1].bias)
        self.compile_convnet = compile_convnet
        # the compiled wrapper is kept outside the module tree, so the state dict and the
        # parameters are the eager ConvNet's whatever the setting
        self.__dict__['_compiled_convnet'] = None

    def __getstate__(self):
        # copies and pickles compile afresh (a compiled wrapper belongs to one module)
        state = dict(super().__getstate__())
        state['_compiled_convnet'] = None
        return state

    def run_convnet(self, x: torch.Tensor) -> torch.Tensor:
        """The shallow ConvNet, compiled when ``compile_convnet`` asks for it (see above)."""
        if not self.compile_convnet:
            return self.convnet(x)
        compiled = self._compiled_convnet
        if compiled is None or compiled._orig_mod is not self.convnet:
            options = self.compile_convnet if isinstance(self.compile_convnet, dict) else {}
            compiled = self.__dict__['_compiled_convnet'] = torch.compile(self.convnet,
                                                                          **options)
        try:
            return compiled(x)
        except COMPILE_ERRORS as e:  # no C++ compiler / Triton, unsupported platform, ...
            # (only compilation failures: an out-of-memory error or a bug in the ConvNet
            # raises as it would eagerly)
            warnings.warn(f'GenISP: torch.compile of the shallow ConvNet failed '
                          f'({type(e).__name__}: {str(e).strip().splitlines()[0][:200]}); '
                          'running it eagerly from now on (compile_convnet=False)')
            self.compile_convnet = False
            return self.convnet(x)

    def normalize_exposure(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Scale each image to mean brightness 1 (see the module docstring); returns the scaled
        image and its ``(B, 3, 256, 256)`` bilinear thumbnail."""
        size = (self.thumbnail_size, self.thumbnail_size)
        thumb = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
        brightness = mean_brightness(thumb).clamp_min(self.eps)
        scale = (1.0 / brightness).to(x.dtype)
        return x * scale, thumb * scale

    def params_from_thumbnail(self, thumb: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """ConvWB's gains ``(B, 3)`` and ConvCC's matrix ``(B, 3, 3)`` from exposure-normalised
        thumbnails ``(B, 3, s, s)`` (identity when switched off)."""
        batch = thumb.shape[0]
        gains = (self.conv_wb(thumb) if self.use_wb
                 else torch.ones(batch, 3, device=thumb.device))
        if self.use_cc:
            # Resizing is linear and the gains are per channel, so gains applied to the
            # thumbnail equal the thumbnail of the white-balanced image: one resize serves both.
            matrix = self.conv_cc(apply_channel_gains(thumb, gains))
        else:
            matrix = torch.eye(3, device=thumb.device).expand(batch, 3, 3)
        return gains, matrix

    def predict_params(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The gains and matrix GenISP applies to ``x (B, 3, H, W)``, without running the
        shallow ConvNet (cheap: the parameter nets see 256x256 thumbnails)."""
        return self.params_from_thumbnail(self.normalize_exposure(x)[1])

    def forward_with_params(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Like ``forward`` but returns ``dict(image, wb_gains (B, 3), cc_matrix (B, 3, 3),
        white_balanced, color_corrected)`` (the latter two exposure-normalised), and
        ``noise_gate (B,)`` with a noise gate, for inspection and visualisation."""
        x, thumb = self.normalize_exposure(x)
        gains, matrix = self.params_from_thumbnail(thumb)
        balanced = apply_channel_gains(x, gains)
        corrected = apply_color_matrix(balanced, matrix)
        image = self.run_convnet(corrected)
        out = dict(wb_gains=gains, cc_matrix=matrix, white_balanced=balanced,
                   color_corrected=corrected)
        if self.noise_gate is not None:
            out['noise_gate'] = gate = self.gate(corrected)
            image = image * gate.view(-1, 1, 1, 1).to(image.dtype)
        if self.residual_to is not None:
            image = image + self.fixed_rendering(corrected)
        return dict(out, image=image)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """The noise gate ``(B,)`` in (0, 1) for the colour-corrected, exposure-normalised
        images ``x (B, 3, H, W)`` the ConvNet corrects (see ``noise_gate``)."""
        z = torch.log(estimate_noise(x, self.noise_signal).clamp_min(1e-6)) + 2.5
        return torch.sigmoid(4.0 * (self.noise_gate[0] * z + self.noise_gate[1]))

    def fixed_rendering(self, x: torch.Tensor) -> torch.Tensor:
        """The picture the ConvNet corrects when ``residual_to`` is set: ``x`` (exposure
        normalised, colour corrected) -> linear sRGB -> one gain to mean ``residual_mean``
        -> sRGB curve, ``(B, 3, H, W)`` in [0, 1]."""
        linear = xyz_to_linear_srgb(x) if self.residual_to == 'xyz' else x
        brightness = mean_brightness(linear).clamp_min(self.eps)
        return srgb_gamma_encode(linear * (self.residual_mean / brightness).to(linear.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_params(x)['image']
