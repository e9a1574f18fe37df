"""tools/analysis_tools/color_noise_gain.py: the noise gain of a camera's colour path."""
import numpy as np
import pytest

from genisp_mmdet.color import SRGB_TO_XYZ
from tests.helpers import load_tool

tool = load_tool('analysis_tools/color_noise_gain')


def test_a_camera_that_sees_srgb_has_no_gain_and_a_mixing_matrix_has_more():
    # camera RGB = linear sRGB: the path is the identity after white balance
    np.testing.assert_allclose(tool.noise_gain(np.linalg.inv(SRGB_TO_XYZ)), 1.0, atol=1e-9)
    # a camera whose channels overlap (each sees a mix of sRGB's) needs a sharpening matrix
    mixing = np.array([[0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6]])
    gain = tool.noise_gain(mixing @ np.linalg.inv(SRGB_TO_XYZ))
    assert (gain > 1.5).all()


def test_the_rccb_sensor_amplifies_noise_most(capsys):
    assert tool.main([]) == 0
    rows = {line.split()[0]: float(line.split()[-1]) for line in
            capsys.readouterr().out.splitlines()}
    assert set(rows) == {'sony_rx100m7', 'nikon_d750', 'canon_eos5dm4', 'sony_a7m3',
                         'rccb_d750'}
    assert max(rows, key=rows.get) == 'rccb_d750' and min(rows.values()) > 1.0
    with pytest.raises(SystemExit):
        tool.main(['no_such_camera'])
