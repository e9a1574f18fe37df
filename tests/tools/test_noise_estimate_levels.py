"""tools/analysis_tools/noise_estimate_levels.py on real COCO photos captured in the dark:
the chroma noise estimate tells darkness levels apart where scene texture blurs the
luminance one (needs ../shared/datasets/coco-photos)."""
import numpy as np

from tests.helpers import REPO_ROOT, load_tool

tool = load_tool('analysis_tools/noise_estimate_levels')
CONFIG = str(REPO_ROOT / 'configs' / 'photos' / 'genisp_yolox-nano_photos_residual_gated_chroma.py')


def test_chroma_estimate_separates_darkness_levels_that_texture_mixes(tmp_path, shared, capsys):
    from genisp_mmdet.synthetic import unprocessed_coco as uc
    root = shared('datasets', 'coco-photos')
    uc.generate_unprocessed_coco(root, root / 'annotations' / 'instances_val2017.json',
                                 tmp_path, split='val', img_dir='val2017',
                                 cameras=('nikon_d750',), darkness=(10, 200), max_images=10,
                                 workers=1, progress=False)
    clean, noisy = (str(tmp_path / 'nikon_d750' / level / 'val' / '*.dng')
                    for level in ('x10', 'x200'))
    assert tool.main([CONFIG, clean, noisy]) == 0
    out = capsys.readouterr().out
    separations = {}
    for signal in ('luminance', 'chroma'):
        block = out.split(f'{signal}: log noise level')[1]
        assert f'{clean}: 10 files' in block and 'per-photo difference sd' in block
        separations[signal] = float(block.split('pooled sd ')[1].split(';')[0])
    # 20x fewer photo-electrons: both rank the levels, but across ten scenes the luminance
    # estimate's spread (texture) nearly covers the step, the chroma one's does not
    assert separations['chroma'] > 4 and separations['chroma'] > 1.5 * separations['luminance']
    assert tool.main([CONFIG, str(tmp_path / 'none' / '*.dng')]) == 2
    assert 'no files' in capsys.readouterr().err


def test_separation_is_the_median_step_over_the_pooled_spread():
    assert tool.separation([0.0, 1.0, 2.0], [4.0, 5.0, 6.0]) == np.float64(4.0 / np.sqrt(2 / 3))
