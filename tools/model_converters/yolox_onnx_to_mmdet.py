#!/usr/bin/env python
"""Convert an official Megvii YOLOX ONNX export into MMDetection's native YOLOX checkpoint.

    python tools/model_converters/yolox_onnx_to_mmdet.py ONNX [OUT.pth] [--config CONFIG]
    # OUT.pth defaults to <repo>/checkpoints/yolox-nano_coco_megvii.pth,
    # CONFIG to mmdet::yolox/yolox_nano_8xb8-300e_coco.py

The export (e.g. ``yolox_nano.onnx`` of YOLOX release 0.1.1rc0) has BatchNorm folded into its
convolutions and generic node names (``Conv_41``), except the head's last 1x1 convs
(``head.cls_preds.*``, ``head.reg_preds.*``, ``head.obj_preds.*``). The converter:

1. builds MMDetection's YOLOX from ``--config`` and records, with a ``TorchFunctionMode``, the
   data flow of one forward pass (which convolution feeds which, through SiLU, add, concat,
   max-pool, upsample and the Focus slicing);
2. walks the ONNX graph in execution order and describes each Conv's input the same way;
3. maps every ONNX Conv onto the one model conv with the same weight shape, stride, padding,
   groups and the same input expression (in terms of the convs mapped before it),
   backtracking where two convs are interchangeable until a later conv tells them apart
   (a CSP block's main and short 1x1 convs; a head level's cls and reg branches). The ONNX
   runs CSP blocks as conv1 -> conv2 -> blocks -> conv3, MMDetection registers main_conv,
   short_conv, final_conv, blocks and runs short_conv first: registration or execution
   order would mismatch them, the data flow does not. The head's last convs are matched by
   name as well as by data flow; the output tensor must be ``[reg, sigmoid(obj),
   sigmoid(cls)]`` per level, strides ascending;
4. writes each folded conv weight to ``conv.weight`` and turns the conv's BatchNorm into an
   identity carrying the folded bias (``weight=1, running_mean=0, running_var=1-eps,
   bias=folded bias``, eps of that BN, 0.001 in YOLOX): exact in eval mode, as
   ``(x - 0) / sqrt(1 - eps + eps) * 1 + b`` rounds to ``x + b`` in float32;
5. refuses, naming the node and the shapes, when a conv or weight tensor of either side stays
   unmapped, shapes disagree, or the graph has an operator it does not understand;
6. runs the converted model and onnxruntime (if installed) on one random 0-255 input and
   prints the max abs difference of the output tensor (refusing above ``--tolerance``);
7. saves ``{'state_dict': ..., 'meta': {'source', 'sha256', 'config', ...}}`` (``meta`` also
   holds the measured difference and the ONNX node -> module mapping).

Sizes tried: only YOLOX-Nano (``yolox_nano.onnx``, 113 convs, 30 depthwise), the one export
available offline here; max abs difference to onnxruntime 2.3e-5 on the random input, 2.7e-4
on real photos (raw box terms; float32 summation order). Nothing in
the mapping is specific to Nano (the non-depthwise Tiny/S/M/L/X exports of the same repository
have the same graph layout without the depthwise convs), but they were NOT tried.

``onnx`` (and ``onnxruntime`` for the check) are an optional extra
(``pip install onnx onnxruntime`` or ``pip install -e .[onnx]``); the ``genisp_mmdet``
package never imports them.
"""
import argparse
import hashlib
import os
import sys
from collections import Counter
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CONFIG = 'mmdet::yolox/yolox_nano_8xb8-300e_coco.py'
#: where configs/genisp_yolox-nano.py (run from the repository root) expects the weights
DEFAULT_OUT = os.path.join(REPO_ROOT, 'checkpoints', 'yolox-nano_coco_megvii.pth')

#: named head convs of the export -> MMDetection's YOLOXHead modules
HEAD_NAMES = {'cls_preds': 'multi_level_conv_cls', 'reg_preds': 'multi_level_conv_reg',
              'obj_preds': 'multi_level_conv_obj'}


class ConversionError(RuntimeError):
    """The ONNX graph cannot be mapped onto the model; the message says where and why."""


def import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ConversionError(
            'the ONNX converter needs the optional `onnx` package (and `onnxruntime` to check '
            'the result): pip install onnx onnxruntime  (or: pip install -e ".[onnx]")') from exc
    return onnx, numpy_helper


class ConvSpec(NamedTuple):
    """One convolution of either side: ``key`` (ONNX node name / model module name), the
    geometry that must agree, and ``inp``, the expression of its input tensor whose leaves
    are ``('input',)`` and ``('conv', key)``."""
    key: str
    weight_shape: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    inp: tuple
    name_hint: Optional[str] = None  # mapped by name (the head's last convs)

    @property
    def geometry(self):
        return (self.weight_shape, self.stride, self.padding, self.dilation, self.groups)


# ---------------------------------------------------------------- expressions
def _sort_add(expr):
    """Canonical form: the terms of an ``add`` are unordered."""
    if not isinstance(expr, tuple) or not expr or expr[0] in ('input', 'conv'):
        return expr
    args = tuple(_sort_add(a) if isinstance(a, tuple) else a for a in expr[1:])
    if expr[0] == 'add':
        args = tuple(sorted(args, key=repr))
    return (expr[0],) + args


def _translate(expr, mapping: Dict[str, str]):
    """Replace ONNX conv keys by the model convs they are mapped to (``None`` if one is not
    mapped yet)."""
    if expr[0] == 'conv':
        return ('conv', mapping[expr[1]]) if expr[1] in mapping else None
    if expr[0] == 'input':
        return expr
    out = [expr[0]]
    for a in expr[1:]:
        if isinstance(a, tuple) and a and isinstance(a[0], str) and a[0] in _EXPR_OPS:
            a = _translate(a, mapping)
            if a is None:
                return None
        out.append(a)
    return _sort_add(tuple(out))


_EXPR_OPS = {'input', 'conv', 'silu', 'sigmoid', 'add', 'cat', 'maxpool', 'upsample', 'slice',
             'reshape', 'transpose'}


def _fmt(expr, depth=0) -> str:
    if expr is None:
        return '?'
    if expr[0] == 'input':
        return 'input'
    if expr[0] == 'conv':
        return expr[1]
    parts = []
    for a in expr[1:]:
        is_expr = isinstance(a, tuple) and a and isinstance(a[0], str) and a[0] in _EXPR_OPS
        parts.append(_fmt(a, depth + 1) if is_expr else repr(a))
    return f"{expr[0]}({', '.join(parts)})"


def _slice_expr(axes_steps: Dict[int, tuple], inner):
    """Compose chained slices: ``('slice', ((axis, start, end, step), ...), x)``."""
    if inner[0] == 'slice':
        merged = {a[0]: a[1:] for a in inner[1]}
        for axis, spec in axes_steps.items():
            if axis in merged:
                raise ConversionError(f'slicing axis {axis} twice is not supported')
            merged[axis] = spec
        axes_steps, inner = merged, inner[2]
    return ('slice', tuple(sorted((a,) + tuple(s) for a, s in axes_steps.items())), inner)


_BIG = 2 ** 62


def _norm_end(end):
    return None if end is None or end >= _BIG else int(end)


# ---------------------------------------------------------------- the ONNX side
class OnnxGraph:
    """Convs of an ONNX export in execution order, their input expressions, weights, and the
    expression of the graph's output."""

    SUPPORTED = {'Conv', 'Sigmoid', 'Mul', 'Add', 'Concat', 'MaxPool', 'Resize', 'Slice',
                 'Reshape', 'Transpose'}

    def __init__(self, path: str):
        onnx, numpy_helper = import_onnx()
        model = onnx.load(path)
        graph = model.graph
        self.path = path
        unsupported = Counter(n.op_type for n in graph.node if n.op_type not in self.SUPPORTED)
        if unsupported:
            raise ConversionError(f'{path}: operators this converter does not understand: '
                                  f'{dict(unsupported)} (supported: {sorted(self.SUPPORTED)})')
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise ConversionError(f'{path}: expected one input and one output, got '
                                  f'{[i.name for i in graph.input]} -> '
                                  f'{[o.name for o in graph.output]}')
        self.input_name = graph.input[0].name
        self.output_name = graph.output[0].name
        dims = graph.input[0].type.tensor_type.shape.dim
        self.input_shape = tuple(d.dim_value for d in dims)
        self.initializers = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        self.producer = {}
        for node in graph.node:
            for out in node.output:
                self.producer[out] = node
        self.nodes = list(graph.node)
        self._memo = {}
        self.used_initializers = set()
        self.convs: List[ConvSpec] = []
        self.weights: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        for node in self.nodes:  # ONNX nodes are stored in a topological order
            if node.op_type == 'Conv':
                self._add_conv(node)
        self.output_expr = self.expr(self.output_name)

    def _const(self, name: str, node) -> np.ndarray:
        if name not in self.initializers:
            raise ConversionError(f'{self.path}: {node.op_type} node {node.name} takes a '
                                  f'computed tensor {name!r} where a constant is expected')
        self.used_initializers.add(name)
        return self.initializers[name]

    @staticmethod
    def _attrs(node) -> dict:
        from onnx import helper
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def _add_conv(self, node):
        attrs = self._attrs(node)
        if len(node.input) < 2 or node.input[1] not in self.initializers:
            raise ConversionError(f'Conv node {node.name}: its weight is not a constant')
        weight = self.initializers[node.input[1]]
        bias = (self.initializers[node.input[2]] if len(node.input) > 2 and node.input[2]
                else np.zeros(weight.shape[0], np.float32))
        self.used_initializers.update(node.input[1:])
        pads = list(attrs.get('pads', [0] * 4))
        if pads[:2] != pads[2:]:
            raise ConversionError(f'Conv node {node.name}: asymmetric padding {pads}')
        if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET'):
            raise ConversionError(f'Conv node {node.name}: auto_pad is not supported')
        hint = None
        wname = node.input[1]
        for onnx_name, mm_name in HEAD_NAMES.items():
            prefix = f'head.{onnx_name}.'
            if wname.startswith(prefix) and wname.endswith('.weight'):
                hint = f'bbox_head.{mm_name}.{wname[len(prefix):-len(".weight")]}'
        self.convs.append(ConvSpec(
            key=node.name, weight_shape=tuple(weight.shape),
            stride=tuple(attrs.get('strides', [1, 1])), padding=tuple(pads[:2]),
            dilation=tuple(attrs.get('dilations', [1, 1])), groups=int(attrs.get('group', 1)),
            inp=self.expr(node.input[0]), name_hint=hint))
        self.weights[node.name] = (weight.astype(np.float32), bias.astype(np.float32))

    def expr(self, tensor: str):
        if tensor not in self._memo:
            self._memo[tensor] = _sort_add(self._expr(tensor))
        return self._memo[tensor]

    def _expr(self, tensor: str):
        if tensor == self.input_name:
            return ('input',)
        node = self.producer.get(tensor)
        if node is None:
            raise ConversionError(f'{self.path}: tensor {tensor!r} has no producer')
        op, ins, attrs = node.op_type, list(node.input), self._attrs(node)
        if op == 'Conv':
            return ('conv', node.name)
        if op == 'Sigmoid':
            return ('sigmoid', self.expr(ins[0]))
        if op == 'Mul':
            a, b = (self.expr(t) for t in ins)
            if b == ('sigmoid', a):
                return ('silu', a)
            if a == ('sigmoid', b):
                return ('silu', b)
            raise ConversionError(f'Mul node {node.name} is not a SiLU (x * sigmoid(x))')
        if op == 'Add':
            return ('add',) + tuple(self.expr(t) for t in ins)
        if op == 'Concat':
            return ('cat', int(attrs['axis'])) + tuple(self.expr(t) for t in ins)
        if op == 'MaxPool':
            pads = list(attrs.get('pads', [0] * 4))
            if pads[:2] != pads[2:] or attrs.get('ceil_mode', 0):
                raise ConversionError(f'MaxPool node {node.name}: unsupported padding/ceil mode')
            return ('maxpool', tuple(attrs['kernel_shape']), tuple(attrs.get('strides', [1, 1])),
                    tuple(pads[:2]), self.expr(ins[0]))
        if op == 'Resize':
            scales = self._const(ins[2], node) if len(ins) > 2 and ins[2] else None
            if ins[1]:
                self._const(ins[1], node)  # roi: unused by nearest/asymmetric
            mode, coords, nearest = (
                v.decode() if isinstance(v, bytes) else v
                for v in (attrs.get('mode', b'nearest'),
                          attrs.get('coordinate_transformation_mode', b'half_pixel'),
                          attrs.get('nearest_mode', b'round_prefer_floor')))
            if mode != 'nearest' or coords != 'asymmetric' or nearest != 'floor':
                raise ConversionError(f'Resize node {node.name}: only PyTorch-style nearest '
                                      'upsampling (asymmetric, floor) is supported, got '
                                      f'{mode}/{coords}/{nearest}')
            if scales is None or len(scales) != 4 or list(scales[:2]) != [1, 1]:
                raise ConversionError(f'Resize node {node.name}: expected constant NCHW scales')
            return ('upsample', (float(scales[2]), float(scales[3])), mode, self.expr(ins[0]))
        if op == 'Slice':
            starts, ends = self._const(ins[1], node), self._const(ins[2], node)
            axes = self._const(ins[3], node) if len(ins) > 3 else np.arange(len(starts))
            steps = self._const(ins[4], node) if len(ins) > 4 else np.ones(len(starts), int)
            spec = {int(a): (int(s), _norm_end(int(e)), int(st))
                    for a, s, e, st in zip(axes, starts, ends, steps)}
            return _slice_expr(spec, self.expr(ins[0]))
        if op == 'Reshape':
            return ('reshape', tuple(int(v) for v in self._const(ins[1], node)),
                    self.expr(ins[0]))
        if op == 'Transpose':
            return ('transpose', tuple(attrs['perm']), self.expr(ins[0]))
        raise ConversionError(f'unsupported operator {op} ({node.name})')


# ---------------------------------------------------------------- the model side
def _fname(func) -> str:
    return getattr(func, '__name__', str(func)).strip('_')


class _DataFlowRecorder(TorchFunctionMode):
    """Records, for every tensor a torch function returns, the function and its arguments."""

    def __init__(self):
        super().__init__()
        self.producer = {}
        self.alive = []  # keeps recorded tensors alive so that their id()s stay unique

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor) and not any(out is a for a in args):
            self.producer[id(out)] = (func, args, kwargs)
            self.alive.append(out)
        return out


class ModelGraph:
    """Convs of an MMDetection detector in forward order, their input expressions, the
    BatchNorm that follows each, and the expressions of the head's raw outputs."""

    def __init__(self, model: nn.Module, input_shape=(1, 3, 416, 416)):
        self.model = model
        self.modules = dict(model.named_modules())
        self.by_param = {}
        for name, module in self.modules.items():
            if isinstance(module, (nn.Conv2d, nn.modules.batchnorm._BatchNorm)):
                self.by_param[id(module.weight)] = name
        self.bn_of: Dict[str, str] = {}
        self.convs: List[ConvSpec] = []
        self._memo = {}
        was_training = model.training
        model.eval()
        x = torch.rand(*input_shape) * 255
        self._input_id = id(x)
        recorder = _DataFlowRecorder()
        with torch.no_grad(), recorder:
            outputs = model._forward(x)
        model.train(was_training)
        self.producer = recorder.producer
        for out in recorder.alive:  # recording order is execution order
            func, args, _ = self.producer[id(out)]
            if _fname(func) == 'conv2d':
                self._add_conv(out)
            elif _fname(func) == 'batch_norm':
                self.expr(out)  # records which conv the BatchNorm follows
        self.head_outputs = tuple(tuple(self.expr(t) for t in level) for level in outputs)

    def _add_conv(self, out):
        func, args, kwargs = self.producer[id(out)]
        name = self.by_param.get(id(args[1]))
        if name is None:
            raise ConversionError('a conv2d of the model uses a weight that is not a Conv2d '
                                  'parameter')
        conv = self.modules[name]
        self.convs.append(ConvSpec(
            key=name, weight_shape=tuple(conv.weight.shape), stride=tuple(conv.stride),
            padding=tuple(conv.padding), dilation=tuple(conv.dilation), groups=conv.groups,
            inp=self.expr(args[0])))

    def expr(self, tensor):
        key = id(tensor)
        if key not in self._memo:
            self._memo[key] = _sort_add(self._expr(tensor))
        return self._memo[key]

    def _expr(self, t):
        if id(t) == self._input_id:
            return ('input',)
        if id(t) not in self.producer:
            raise ConversionError('the model computes a tensor outside torch functions')
        func, args, kwargs = self.producer[id(t)]
        name = _fname(func)
        if name == 'conv2d':
            return ('conv', self.by_param[id(args[1])])
        if name == 'batch_norm':
            inner = self.expr(args[0])
            weight = args[3] if len(args) > 3 else kwargs.get('weight')
            if inner[0] != 'conv':
                raise ConversionError('a BatchNorm of the model does not follow a conv: it '
                                      'cannot be folded')
            self.bn_of[inner[1]] = self.by_param[id(weight)]
            return inner
        if name == 'sigmoid':
            return ('sigmoid', self.expr(args[0]))
        if name == 'silu':
            return ('silu', self.expr(args[0]))
        if name in ('mul', 'rmul'):
            a, b = self.expr(args[0]), self.expr(args[1])
            if b == ('sigmoid', a):
                return ('silu', a)
            if a == ('sigmoid', b):
                return ('silu', b)
            raise ConversionError('the model multiplies tensors outside a SiLU')
        if name in ('add', 'radd'):
            return ('add', self.expr(args[0]), self.expr(args[1]))
        if name == 'cat':
            dim = args[1] if len(args) > 1 else kwargs.get('dim', 0)
            return ('cat', int(dim)) + tuple(self.expr(a) for a in args[0])
        if name in ('max_pool2d', 'max_pool2d_with_indices'):
            k = _pair(args[1] if len(args) > 1 else kwargs['kernel_size'])
            s = args[2] if len(args) > 2 else kwargs.get('stride')
            s = k if s is None or s == [] else _pair(s)
            p = _pair(args[3] if len(args) > 3 else kwargs.get('padding', 0))
            return ('maxpool', k, s, p, self.expr(args[0]))
        if name == 'interpolate':
            scale = kwargs.get('scale_factor', args[2] if len(args) > 2 else None)
            mode = kwargs.get('mode', args[3] if len(args) > 3 else 'nearest')
            if scale is None:
                raise ConversionError('the model upsamples to a fixed size, not by a factor')
            return ('upsample', tuple(float(v) for v in _pair(scale)), mode, self.expr(args[0]))
        if name == 'getitem':
            return _slice_expr(_index_to_slices(args[1], args[0].dim()), self.expr(args[0]))
        raise ConversionError(f'the model uses {name} between its convs; the converter '
                              'does not understand it')


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _index_to_slices(index, ndim: int) -> dict:
    index = index if isinstance(index, tuple) else (index,)
    if Ellipsis in index:
        i = index.index(Ellipsis)
        index = index[:i] + (slice(None),) * (ndim - len(index) + 1) + index[i + 1:]
    spec = {}
    for axis, s in enumerate(index):
        if not isinstance(s, slice):
            raise ConversionError(f'the model indexes a tensor with {s!r}, not a slice')
        if s == slice(None):
            continue
        spec[axis] = (s.start or 0, _norm_end(s.stop), s.step or 1)
    return spec


# ---------------------------------------------------------------- matching
def match_convs(onnx_convs: List[ConvSpec], model_convs: List[ConvSpec]) -> Dict[str, str]:
    """ONNX conv key -> model conv key, by geometry, name hints and data flow (backtracking
    over interchangeable candidates). Raises :class:`ConversionError` naming the first ONNX
    conv (in execution order) that has no counterpart."""
    named_targets = {c.name_hint for c in onnx_convs if c.name_hint}
    by_key = {c.key: c for c in model_convs}
    missing_targets = named_targets - set(by_key)
    if missing_targets:
        raise ConversionError(f'the model has no modules {sorted(missing_targets)} for the '
                              "export's named head convs")
    mapping: Dict[str, str] = {}
    used = set()
    failure = {'index': -1, 'message': ''}

    def candidates(i):
        oc = onnx_convs[i]
        want = _translate(oc.inp, mapping)
        same_input, found = [], []
        for mc in model_convs:
            if mc.key in used or mc.inp != want:
                continue
            if oc.name_hint is not None and mc.key != oc.name_hint:
                continue
            if oc.name_hint is None and mc.key in named_targets:
                continue
            same_input.append(mc)
            if mc.geometry == oc.geometry:
                found.append(mc)
        if not found and i > failure['index']:
            failure['index'] = i
            if same_input:
                detail = '; '.join(f'{m.key}: weight {m.weight_shape}, stride {m.stride}, '
                                   f'padding {m.padding}, groups {m.groups}'
                                   for m in same_input)
                failure['message'] = (
                    f'shapes disagree: ONNX {oc.key} (weight {oc.weight_shape}, stride '
                    f'{oc.stride}, padding {oc.padding}, groups {oc.groups}, input '
                    f'{_fmt(want)}) vs the model convs with that input: {detail}')
            else:
                failure['message'] = (
                    f'unmapped: ONNX {oc.key} (weight {oc.weight_shape}, stride {oc.stride}, '
                    f'groups {oc.groups}{", named " + oc.name_hint if oc.name_hint else ""}) '
                    f'takes {_fmt(want)}, and no unmapped conv of the model takes that input')
        return found

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(onnx_convs) + 100))

    def solve(i):
        if i == len(onnx_convs):
            return True
        for mc in candidates(i):
            mapping[onnx_convs[i].key] = mc.key
            used.add(mc.key)
            if solve(i + 1):
                return True
            del mapping[onnx_convs[i].key]
            used.discard(mc.key)
        return False

    if not solve(0):
        raise ConversionError(failure['message'])
    left = [c.key for c in model_convs if c.key not in used]
    if left:
        raise ConversionError(f'unmapped: the model convs {left} have no counterpart in the '
                              'ONNX graph')
    return mapping


def check_output_layout(onnx_graph: OnnxGraph, model_graph: ModelGraph, mapping) -> None:
    """The export's output must be ``transpose(cat_l(reshape(cat(reg_l, sigmoid(obj_l),
    sigmoid(cls_l)))))`` with the model's head convs of level ``l``, strides ascending."""
    levels = []
    for cls_e, reg_e, obj_e in zip(*model_graph.head_outputs):
        levels.append(('cat', 1, reg_e, ('sigmoid', obj_e), ('sigmoid', cls_e)))
    got = _translate(onnx_graph.output_expr, mapping)
    ok = (got is not None and got[0] == 'transpose' and got[1] == (0, 2, 1)
          and got[2][0] == 'cat' and got[2][1] == 2 and len(got[2]) == 2 + len(levels))
    if ok:
        for level, want in zip(got[2][2:], levels):
            ok = ok and level[0] == 'reshape' and level[2] == want
    if not ok:
        raise ConversionError('the ONNX output is not the expected YOLOX layout '
                              '[reg, sigmoid(obj), sigmoid(cls)] per level: '
                              f'{_fmt(got)[:600]}')


# ---------------------------------------------------------------- conversion
def build_detector(config: str = DEFAULT_CONFIG):
    """MMDetection's detector of ``config`` (``mmdet::...`` or a path), in eval mode."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(resolve_config_path(config))
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.eval()
    return model


def resolve_config_path(config: str) -> str:
    if '::' in config:
        from mmengine.utils import get_installed_path
        package, rel = config.split('::', 1)
        path = os.path.join(get_installed_path(package), '.mim', 'configs', rel)
    else:
        path = config
    if not os.path.isfile(path):
        raise ConversionError(f'config not found: {config}')
    return path


def convert(onnx_path: str, model: nn.Module) -> Tuple[dict, dict]:
    """State dict of ``model`` carrying the weights of ``onnx_path``; also returns a summary
    (``mapping`` ONNX node -> model conv, counts)."""
    onnx_graph = OnnxGraph(onnx_path)
    if len(onnx_graph.input_shape) != 4 or not all(onnx_graph.input_shape):
        raise ConversionError(f'{onnx_path}: expected a fixed NCHW input, got '
                              f'{onnx_graph.input_shape}')
    model_graph = ModelGraph(model, onnx_graph.input_shape)
    mapping = match_convs(onnx_graph.convs, model_graph.convs)
    check_output_layout(onnx_graph, model_graph, mapping)
    unused = [n for n, v in onnx_graph.initializers.items()
              if n not in onnx_graph.used_initializers]
    if unused:
        raise ConversionError(f'unmapped: ONNX tensors {unused[:10]} are used by no mapped '
                              'node')

    state = {k: v.clone() for k, v in model.state_dict().items()}
    filled = set()

    def put(key, value):
        value = torch.as_tensor(value, dtype=state[key].dtype)
        if tuple(value.shape) != tuple(state[key].shape):
            raise ConversionError(f'shapes disagree for {key}: {tuple(value.shape)} vs the '
                                  f"model's {tuple(state[key].shape)}")
        state[key] = value.clone()
        filled.add(key)

    for onnx_key, conv_name in mapping.items():
        weight, bias = onnx_graph.weights[onnx_key]
        put(f'{conv_name}.weight', torch.from_numpy(weight))
        bn_name = model_graph.bn_of.get(conv_name)
        if bn_name is not None:
            bn = model_graph.modules[bn_name]
            put(f'{bn_name}.weight', torch.ones(bn.num_features))
            put(f'{bn_name}.bias', torch.from_numpy(bias))
            put(f'{bn_name}.running_mean', torch.zeros(bn.num_features))
            put(f'{bn_name}.running_var', torch.full((bn.num_features,), 1.0 - bn.eps))
            if f'{bn_name}.num_batches_tracked' in state:
                filled.add(f'{bn_name}.num_batches_tracked')
        elif f'{conv_name}.bias' in state:
            put(f'{conv_name}.bias', torch.from_numpy(bias))
        elif np.any(bias):
            raise ConversionError(f'{onnx_key} has a bias but {conv_name} has neither a bias '
                                  'nor a BatchNorm to carry it')
    left = [k for k in state if k not in filled]
    if left:
        raise ConversionError(f'unmapped: model tensors {left[:10]} receive no ONNX weight')
    summary = dict(mapping=mapping, convs=len(mapping),
                   depthwise=sum(c.groups > 1 for c in onnx_graph.convs),
                   folded_bns=len(model_graph.bn_of), input_shape=onnx_graph.input_shape)
    return state, summary


def onnx_layout_outputs(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """The model's raw head outputs in the export's layout ``[B, N, 4 + 1 + C]``: per anchor
    point (levels in stride order, row-major), raw box terms, sigmoid(objectness), sigmoid
    class scores."""
    cls_scores, bbox_preds, objectnesses = model._forward(inputs)
    levels = [torch.cat([reg, obj.sigmoid(), cls.sigmoid()], 1).flatten(2)
              for cls, reg, obj in zip(cls_scores, bbox_preds, objectnesses)]
    return torch.cat(levels, 2).permute(0, 2, 1)


def run_onnxruntime(onnx_path: str, inputs: np.ndarray) -> Optional[np.ndarray]:
    """The export's output for ``inputs`` (one image at a time), or ``None`` without
    onnxruntime."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(onnx_path, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: img[None].astype(np.float32)})[0]
                           for img in inputs])


def verify(onnx_path: str, model: nn.Module, input_shape, seed: int = 0) -> Optional[float]:
    """Max abs difference between the converted model and onnxruntime on a random 0-255 input
    (``None`` when onnxruntime is not installed)."""
    x = torch.rand(*input_shape, generator=torch.Generator().manual_seed(seed)) * 255
    expected = run_onnxruntime(onnx_path, x.numpy())
    if expected is None:
        return None
    model.eval()
    with torch.no_grad():
        got = onnx_layout_outputs(model, x).numpy()
    if got.shape != expected.shape:
        raise ConversionError(f'output shapes disagree: model {got.shape} vs ONNX '
                              f'{expected.shape}')
    return float(np.abs(got - expected).max())


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def convert_file(onnx_path: str, out_path: str, config: str = DEFAULT_CONFIG,
                 tolerance: float = 1e-3, log=print) -> dict:
    """Convert, verify against onnxruntime (if installed) and save; returns the checkpoint."""
    import_onnx()  # fail early, before building the model
    if not os.path.isfile(onnx_path):
        raise ConversionError(f'ONNX file not found: {onnx_path}')
    model = build_detector(config)
    state, summary = convert(onnx_path, model)
    model.load_state_dict(state, strict=True)
    log(f'mapped {summary["convs"]} convs ({summary["depthwise"]} depthwise) onto '
        f'{type(model).__name__}; {summary["folded_bns"]} BatchNorms carry folded biases')
    diff = verify(onnx_path, model, summary['input_shape'])
    if diff is None:
        log('onnxruntime is not installed: the converted model was NOT checked against the '
            'export (pip install onnxruntime)')
    else:
        log(f'max abs difference to onnxruntime on a random input: {diff:.3g}')
        if not diff <= tolerance:
            raise ConversionError(f'the converted model differs from onnxruntime by {diff:.3g} '
                                  f'(> {tolerance}); not saved')
    checkpoint = {'state_dict': state,
                  'meta': {'source': os.path.abspath(onnx_path), 'sha256': sha256(onnx_path),
                           'config': config, 'max_abs_diff_onnxruntime': diff,
                           'mapping': summary['mapping']}}
    if out_path:
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        torch.save(checkpoint, out_path)
        log(f'saved {out_path}')
    return checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert a Megvii YOLOX ONNX export into MMDetection's YOLOX checkpoint")
    parser.add_argument('onnx', help='the ONNX export, e.g. yolox_nano.onnx')
    parser.add_argument('out', nargs='?', default=DEFAULT_OUT,
                        help='output checkpoint (default: the repository\'s '
                        'checkpoints/yolox-nano_coco_megvii.pth)')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help=f'MMDetection config of the same YOLOX size (default: '
                        f'{DEFAULT_CONFIG})')
    parser.add_argument('--tolerance', type=float, default=1e-3,
                        help='largest accepted difference to onnxruntime (default: 1e-3)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        convert_file(args.onnx, args.out, args.config, args.tolerance)
    except ConversionError as exc:
        print(f'error: {exc}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
