"""The embedded default benchmark: a deterministic low-light multi-camera RAW detection dataset.

A new user without the 70 GB RAW-NOD download can train GenISP on one simulated camera
and test it on unseen ones, on CPU, in minutes. Generate it with::

    python tools/make_demo_dataset.py --out data/genisp_demo --num-train 400 --num-test 150 --seed 0

Pipeline (per scene; modules ``scenes``, ``cameras``, ``dng``, ``dataset``)
--------------------------------------------------------------------------
1. ``scenes.sample_scene``: textured background, 2..6 labelled shapes (16..80 px) and
   unlabelled distractors, linear sRGB albedos; illuminant 2500..7500 K on the Planckian
   locus, von Kries lighting -> scene CIE XYZ ``(H, W, 3)``.
2. Oracle: the same scene D65-balanced at normal exposure, no noise, gamma-encoded sRGB PNG.
3. ``cameras.capture_bayer`` per camera: ``xyz_to_camera @ XYZ`` (real LibRaw matrices),
   20..200x under-exposure, ISO 100..800, Poisson shot + Gaussian read noise, black/white
   level, Bayer mosaic in the camera's CFA order, uint16.
4. ``dng.write_dng``: real CFA DNG (pidng) with ColorMatrix1 (D65), AsShotNeutral of the
   scene illuminant, BlackLevel, WhiteLevel, CFAPattern, ISO.

Layout (``OUT`` = dataset root; file stems ``<split>_<index:05d>``)
------------------------------------------------------------------
::

    OUT/manifest.json                      spec (seed, sizes, ranges), cameras, counts, layout
    OUT/srgb/{train,test}/*.png            oracle renderings, 8-bit sRGB, W x H
    OUT/<camera>/train/*.dng               train split: only the train camera(s)
    OUT/<camera>/test/*.dng                test split: every camera
    OUT/annotations/srgb_{train,test}.json
    OUT/annotations/<camera>_{train,test}.json

COCO json: integer image ids (scene index + 1, shared by the PNG and every DNG of a scene),
``file_name`` relative to the split's image folder (use ``data_prefix=dict(img=
'<name>/<split>/')``), ``width``/``height`` = the rendered frame = the DNG's full frame,
boxes ``[x, y, w, h]`` in that frame; extra image keys ``scene, cct`` and, for RAW,
``camera, cfa, iso, exposure_deficit``. Categories: 1 red_disc, 2 blue_disc, 3 square,
4 triangle (red and blue discs differ only in hue). Default cameras (slug: simulated CFA):
``sony_rx100m7`` RGGB (trains), ``nikon_d750`` GRBG, ``canon_eos5dm4`` GBRG, ``sony_a7m3``
BGGR, and ``rccb_d750``: an RCCB sensor (clear pixels on the green sites) derived from the
D750's filters, written as RGGB - the one camera whose colours differ from the train
camera's by more than a near-diagonal transform (see ``cameras``); ``nikon_d3200`` (GRBG,
12-bit, black 0) is available on request.

Real photos instead of procedural scenes (modules ``unprocess``, ``unprocessed_coco``)
-----------------------------------------------------------------------------------
``generate_unprocessed_coco`` (CLI: ``tools/make_unprocessed_coco.py``) turns any COCO-format
photo folder into dark RAW DNGs by unprocessing (Brooks et al. 2019: inverse tone curve,
inverse sRGB transfer curve), von Kries relighting at 2500..7500 K, one 2x2 Bayer cell per
photo pixel, ``k`` times fewer photo-electrons than a normal exposure with auto-ISO, and
per-camera sensor noise from published measurements (``with_measured_noise``; the demo keeps
its own values).
"""
from .cameras import (CAMERAS, CFA_ORDERS, DEFAULT_CAMERAS, CameraSpec, capture_bayer,
                      expected_signal_dn, get_camera, mosaic)
from .dataset import (CaptureConfig, DemoDatasetSpec, annotation_file, generate_demo_dataset,
                      image_dir, is_complete, layout, load_manifest, render_scene_files,
                      scene_name, spec_with)
from .dng import write_dng
from .scenes import (CATEGORIES, CLASSES, COLOUR_DEFINED_CLASSES, Scene, SceneConfig, Shape,
                     illuminant_xyz, render_oracle_srgb, sample_scene, scene_xyz)
from .unprocess import (MEASURED_SENSOR_NOISE, SensorNoise, bayer_cells, capture_dark,
                        fit_read_noise, inverse_smoothstep, relight_xyz, sample_iso, smoothstep,
                        srgb_decode, unprocess_photo, unprocess_srgb, with_measured_noise)
from .unprocessed_coco import UnprocessSpec, generate_unprocessed_coco

__all__ = [
    'CAMERAS', 'CFA_ORDERS', 'DEFAULT_CAMERAS', 'CameraSpec', 'capture_bayer',
    'expected_signal_dn', 'get_camera', 'mosaic', 'CaptureConfig', 'DemoDatasetSpec',
    'annotation_file', 'generate_demo_dataset', 'image_dir', 'is_complete', 'layout',
    'load_manifest', 'render_scene_files', 'scene_name', 'spec_with', 'write_dng',
    'CATEGORIES', 'CLASSES', 'COLOUR_DEFINED_CLASSES', 'Scene', 'SceneConfig', 'Shape',
    'illuminant_xyz', 'render_oracle_srgb', 'sample_scene', 'scene_xyz',
    'MEASURED_SENSOR_NOISE', 'SensorNoise', 'bayer_cells', 'capture_dark', 'fit_read_noise',
    'inverse_smoothstep', 'relight_xyz', 'sample_iso', 'smoothstep', 'srgb_decode',
    'unprocess_photo', 'unprocess_srgb', 'with_measured_noise', 'UnprocessSpec',
    'generate_unprocessed_coco'
]
