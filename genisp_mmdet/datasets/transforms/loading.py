"""Loading transforms for camera RAW files and their decode-once packed cache.

Both fill the same result keys, so a pipeline switches between them without other changes:

* ``img``: ``(H, W, 3)`` float32 packed RAW, linear CIE XYZ (or camera RGB, see
  ``raw_meta['color_space']``); camera RGB is in [0, 1], XYZ may leave it.
* ``img_shape``, ``ori_shape``: ``(H, W)`` of ``img`` as loaded; ``scale_factor`` ``(1.0, 1.0)``
  (a later ``Resize`` replaces it; without one, mmdet heads still find it when rescaling).
* ``img_path``: kept as given by the dataset.
* ``raw_meta``: dict with the keys of :data:`genisp_mmdet.raw.RAW_META_FIELDS`
  (``visible_shape`` is always the sensor's visible Bayer frame, also for cached images, so
  :class:`~genisp_mmdet.datasets.transforms.AlignRawAnnotations` maps boxes identically).

The images are float, so mmdet's ``Resize`` / ``RandomFlip`` / ``PackDetInputs`` work on them
unchanged (``PackDetInputs`` yields a float32 ``(3, H, W)`` tensor); pass
``meta_keys=RAW_META_KEYS`` to ``PackDetInputs`` so ``raw_meta`` reaches the data samples.
"""
from __future__ import annotations

import inspect
import io
from typing import Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS
from mmengine import fileio

from ...raw import (IsolatedDecoder, RawFileNotFoundError, RawReadError, cache_path_for,
                    load_packed_cache, read_raw)
from ...raw.reader import COLOR_SPACES, MISSING_MATRIX_POLICIES
from ..bad_files import check_on_error, decoding, skip_or_raise

#: ``PackDetInputs``' default ``meta_keys`` plus ``'raw_meta'``: use as
#: ``dict(type='PackDetInputs', meta_keys=RAW_META_KEYS)`` so every data sample carries the
#: RAW metadata (camera matrices, levels, ISO, exposure) to the RAW data preprocessor.
RAW_META_KEYS: Tuple[str, ...] = tuple(
    inspect.signature(PackDetInputs.__init__).parameters['meta_keys'].default) + ('raw_meta',)


def _fill_results(results: dict, image, meta: dict) -> dict:
    results['img'] = image
    results['img_shape'] = image.shape[:2]
    results['ori_shape'] = image.shape[:2]
    results['raw_meta'] = meta
    # mmdet's heads rescale predictions by it; Resize overwrites it when the pipeline has one
    results['scale_factor'] = (1.0, 1.0)
    return results


@TRANSFORMS.register_module()
class LoadRawImageFromFile(BaseTransform):
    """Decodes a camera RAW file (any LibRaw 2x2 Bayer format) into a packed float image.

    Required keys: ``img_path``. Added keys: ``img`` ``(H/2, W/2, 3)`` float32, ``img_shape``,
    ``ori_shape``, ``scale_factor`` ``(1.0, 1.0)``, ``raw_meta`` (see
    :func:`genisp_mmdet.raw.read_raw`).

    Args:
        color_space: ``'xyz'`` (camera RGB -> CIE XYZ with the file's colour matrix) or
            ``'camera'`` (native camera RGB, for ablations).
        on_missing_matrix: for ``'xyz'`` when a file has no colour matrix: ``'raise'``
            (:class:`~genisp_mmdet.raw.MissingColorMatrixError`) or ``'camera'`` (warn and
            load camera RGB; ``raw_meta['color_space']`` then says ``'camera'``).
        backend_args: mmengine file backend arguments; when given, the file's bytes are
            fetched through that backend (e.g. object storage) and decoded from memory.
            ``None`` reads local paths directly (fastest).
        on_error: ``'raise'`` (default) or ``'skip'``: a file that cannot be read is logged
            (once), recorded in the run's bad-file list (:class:`~genisp_mmdet.engine.
            BadFilesHook`) and the transform returns ``None``, so a training dataset draws
            another sample. Evaluation never skips: a test-mode dataset raises instead (or,
            opted in, scores the image as one without detections:
            ``RawCocoDataset(unreadable_test_images='no_detections')``).
        isolate: decode in a child process (:class:`~genisp_mmdet.raw.IsolatedDecoder`), so
            a file that crashes LibRaw raises :class:`~genisp_mmdet.raw.DecoderCrashError`
            and one that hangs it :class:`~genisp_mmdet.raw.DecoderTimeoutError` (both
            naming the file, both skipped under ``on_error='skip'``) instead of killing the
            DataLoader worker and with it the run. Costs a copy of the image between
            processes (``tools/analysis_tools/benchmark.py --parts loading``
            measures it).
        decode_timeout: with ``isolate``, seconds one file may take.

    Raises:
        genisp_mmdet.raw.RawReadError: (subclasses) the file is missing, not RAW, truncated,
            not a Bayer sensor or lacks a colour matrix; the message names the file.
    """

    def __init__(self, color_space: str = 'xyz', on_missing_matrix: str = 'raise',
                 backend_args: Optional[dict] = None, on_error: str = 'raise',
                 isolate: bool = False, decode_timeout: float = 120.0):
        if color_space not in COLOR_SPACES:
            raise ValueError(f'color_space must be one of {COLOR_SPACES}, got {color_space!r}')
        if on_missing_matrix not in MISSING_MATRIX_POLICIES:
            raise ValueError(f'on_missing_matrix must be one of {MISSING_MATRIX_POLICIES}, '
                             f'got {on_missing_matrix!r}')
        self.color_space = color_space
        self.on_missing_matrix = on_missing_matrix
        self.backend_args = None if backend_args is None else dict(backend_args)
        self.on_error = check_on_error(on_error)
        self.isolate = bool(isolate)
        self.decode_timeout = float(decode_timeout)
        # one per process: pickled into DataLoader workers without its child process
        self._decoder = IsolatedDecoder(self.decode_timeout) if self.isolate else None

    def transform(self, results: dict) -> Optional[dict]:
        try:
            return self._load(results)
        except RawReadError as error:
            return skip_or_raise(self.on_error, results.get('img_path'), error)

    def _load(self, results: dict) -> dict:
        path = results['img_path']
        file_bytes = None
        if self.backend_args is not None:
            try:
                file_bytes = fileio.get(path, backend_args=self.backend_args)
            except FileNotFoundError as e:
                raise RawFileNotFoundError(path) from e
            except OSError as e:
                raise RawReadError(path, f'cannot fetch the file ({e})') from e
        if self._decoder is not None:
            packed = self._decoder.read_raw(path, color_space=self.color_space,
                                            on_missing_matrix=self.on_missing_matrix,
                                            file_bytes=file_bytes)
        else:
            with decoding(path):  # names the file should LibRaw take this process down
                packed = read_raw(path, color_space=self.color_space,
                                  on_missing_matrix=self.on_missing_matrix,
                                  file_bytes=file_bytes)
        return _fill_results(results, packed.image, packed.meta)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(color_space={self.color_space!r}, '
                f'on_missing_matrix={self.on_missing_matrix!r}, '
                f'backend_args={self.backend_args!r}, on_error={self.on_error!r}, '
                f'isolate={self.isolate!r}, decode_timeout={self.decode_timeout!r})')


@TRANSFORMS.register_module()
class LoadPackedRawFromFile(BaseTransform):
    """Loads a packed RAW image from the cache written by ``tools/convert_raw_cache.py``.

    The cache entry of ``img_path`` is ``img_path + '.npy'`` (``img_path`` itself when it
    already ends in ``.npy``) and its ``.json`` sidecar; point the dataset's image prefix at
    the cache folder to switch a RAW dataset to its cache. The stored float16 image (already
    fitted to the training scale) is widened to float32.

    Required keys: ``img_path``. Added keys: ``img`` ``(h, w, 3)`` float32, ``img_shape``,
    ``ori_shape``, ``scale_factor`` ``(1.0, 1.0)``, ``raw_meta`` (``visible_shape`` is still
    the sensor's, so box alignment is the same as for :class:`LoadRawImageFromFile`).

    Each entry records what produced it; the loader checks that against this code's RAW
    reader, against the settings below and against the source RAW file when it is there (its
    size and modification time): a stale or foreign entry raises
    :class:`~genisp_mmdet.raw.CacheMismatchError` naming the entry and every differing
    setting, whatever ``on_error`` says (training on it would silently change the data;
    ``tools/convert_raw_cache.py`` rebuilds such entries).

    Args:
        color_space: the colour space the pipeline expects (``'xyz'`` or ``'camera'``);
            ``None`` accepts either.
        scale: the training scale the entries must have been fitted to (the converter's
            ``--scale``; the pipeline's ``Resize`` scale), ``None`` accepts any.
        check_source: compare with the source RAW file when it exists.
        on_error: ``'raise'`` (default) or ``'skip'``, as for :class:`LoadRawImageFromFile`
            (for missing or corrupt entries).

    Raises:
        genisp_mmdet.raw.RawFileNotFoundError: the entry (or its sidecar) does not exist.
        genisp_mmdet.raw.RawReadError: the entry is corrupt.
        genisp_mmdet.raw.CacheMismatchError: the entry is stale or was made otherwise.
    """

    def __init__(self, color_space: Optional[str] = 'xyz',
                 scale: Optional[Tuple[int, int]] = None, check_source: bool = True,
                 on_error: str = 'raise'):
        if color_space is not None and color_space not in COLOR_SPACES:
            raise ValueError(f'color_space must be one of {COLOR_SPACES} or None, got '
                             f'{color_space!r}')
        self.expected = {k: v for k, v in (('color_space', color_space),
                                           ('scale', None if scale is None else tuple(scale)))
                         if v is not None}
        self.check_source = check_source
        self.on_error = check_on_error(on_error)

    def transform(self, results: dict) -> Optional[dict]:
        try:
            packed = load_packed_cache(cache_path_for(results['img_path']), self.expected,
                                       check_source=self.check_source)
        except RawReadError as error:  # a CacheMismatchError is not one: it always raises
            return skip_or_raise(self.on_error, results.get('img_path'), error)
        return _fill_results(results, packed.image, packed.meta)


@TRANSFORMS.register_module()
class LoadNumpyImageFromFile(BaseTransform):
    """Load a pre-packed RAW image stored as ``.npy`` (no RAW metadata), e.g. the LOD release.

    Assumed layout (what Sony AI's RAM ``preprocess_files/preprocess_lod.py`` writes for LOD,
    read from its source; the LOD ``.npy`` files themselves were not available to check):
    ``(H, W, 4)`` float64, channels ``(R, G1, G2, B)`` taken from ``raw_image_visible`` by the
    CFA pattern (Canon EOS 5D Mark IV, RGGB), ``(raw - 2047) / 14336`` (black level 2047,
    white 16383, so ~[0, 1] but *not clipped*: dark noise goes below 0), then resized with
    ``cv2.resize`` to 1200x800 (so the image is a resize of the full frame and the LOD boxes,
    given on 1200x800, need no alignment). ``(H, W, 3)`` arrays are taken as camera RGB, and a
    channels-first ``(4|3, H, W)`` array is transposed.

    Output, as ``LoadRawImageFromFile``: ``img`` ``(H, W, 3)`` float32 (greens averaged,
    clipped to [0, 1], then camera RGB -> XYZ when ``xyz_to_camera`` is given),
    ``img_shape``/``ori_shape``, and ``raw_meta`` with the contract's keys; fields unknown
    for a ``.npy`` (``camera_wb``, ``iso``, ``exposure_time``, ``visible_shape``) are None.

    Args:
        channel_layout: ``'auto'`` (by channel count), ``'RGGB'`` (R, G1, G2, B) or ``'RGB'``.
        xyz_to_camera: 3x3 XYZ(D65) -> camera matrix (Adobe ``ColorMatrix``, LibRaw
            ``cam_xyz``) to convert to XYZ; the daylight white balance is derived from it as
            LibRaw does, and camera -> XYZ is scaled so daylight white has Y = 1.
            ``None``: leave camera RGB (``raw_meta['color_space'] = 'camera'``).
        clip: clip to [0, 1] before the colour matrix (default True).
        make, model: camera name for ``raw_meta``.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self, channel_layout: str = 'auto', xyz_to_camera=None, clip: bool = True,
                 make: Optional[str] = None, model: Optional[str] = None,
                 backend_args: Optional[dict] = None):
        if channel_layout not in ('auto', 'RGGB', 'RGB'):
            raise ValueError(f"channel_layout must be 'auto', 'RGGB' or 'RGB', "
                             f'got {channel_layout!r}')
        self.channel_layout = channel_layout
        self.clip = clip
        self.make, self.model = make, model
        self.backend_args = backend_args
        self.cam_to_xyz = None
        self.daylight_wb = None
        if xyz_to_camera is not None:
            from genisp_mmdet.color import SRGB_TO_XYZ, camera_to_xyz_matrix
            m = np.asarray(xyz_to_camera, dtype=np.float64)
            if m.shape != (3, 3):
                raise ValueError(f'xyz_to_camera must be 3x3, got shape {m.shape}')
            # camera response to daylight (sRGB white) ~ m @ SRGB_TO_XYZ @ 1; LibRaw's pre_mul
            white = m @ SRGB_TO_XYZ @ np.ones(3)
            if np.any(white <= 0):
                raise ValueError('xyz_to_camera gives a non-positive camera response to white')
            self.daylight_wb = (white[1] / white)
            self.cam_to_xyz = camera_to_xyz_matrix(m, daylight_whitebalance=self.daylight_wb)

    def _read(self, path: str) -> np.ndarray:
        try:
            buf = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'LoadNumpyImageFromFile: {path} does not exist') from None
        try:
            return np.load(io.BytesIO(buf), allow_pickle=False)
        except (ValueError, OSError, EOFError) as err:  # what np.load raises on a bad file
            raise ValueError(f'LoadNumpyImageFromFile: {path} is not a readable .npy array '
                             f'({err})') from err

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        arr = self._read(path)
        if arr.ndim != 3:
            raise ValueError(f'LoadNumpyImageFromFile: {path} has shape {arr.shape}; expected '
                             '(H, W, 4) packed RGGB or (H, W, 3) RGB')
        if arr.shape[-1] not in (3, 4) and arr.shape[0] in (3, 4):
            arr = arr.transpose(1, 2, 0)
        channels = arr.shape[-1]
        layout = self.channel_layout
        if layout == 'auto':
            layout = {4: 'RGGB', 3: 'RGB'}.get(channels)
        if layout is None or (layout == 'RGGB') != (channels == 4) or channels not in (3, 4):
            raise ValueError(f'LoadNumpyImageFromFile: {path} has shape {arr.shape}, which does '
                             f'not fit channel_layout={self.channel_layout!r}')
        arr = arr.astype(np.float32, copy=False)
        if layout == 'RGGB':
            img = np.stack([arr[..., 0], 0.5 * (arr[..., 1] + arr[..., 2]), arr[..., 3]], -1)
        else:
            img = np.array(arr, dtype=np.float32)
        if self.clip:
            np.clip(img, 0.0, 1.0, out=img)
        color_space = 'camera'
        if self.cam_to_xyz is not None:
            img = img @ self.cam_to_xyz.T.astype(np.float32)
            color_space = 'xyz'
        img = np.ascontiguousarray(img, dtype=np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        results['raw_meta'] = dict(
            make=self.make, model=self.model,
            cfa_pattern='RGGB' if layout == 'RGGB' else None,
            black_level=[0.0, 0.0, 0.0], white_level=1.0, camera_wb=None,
            daylight_wb=None if self.daylight_wb is None else self.daylight_wb.tolist(),
            cam_to_xyz=None if self.cam_to_xyz is None else self.cam_to_xyz.tolist(),
            color_space=color_space, iso=None, exposure_time=None, visible_shape=None)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(channel_layout={self.channel_layout!r}, '
                f'color_space={"xyz" if self.cam_to_xyz is not None else "camera"!r}, '
                f'clip={self.clip})')
