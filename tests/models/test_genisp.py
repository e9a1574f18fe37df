"""GenISP: architecture, initial identity, per-image parameters, numerics."""
import copy

import pytest
import torch

from genisp_mmdet.models import GenISP


@pytest.fixture
def isp():
    torch.manual_seed(0)
    return GenISP()


def dark_scene(batch=2, h=40, w=56, exposure=0.01, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, h, w, generator=g) * exposure


def test_architecture_follows_the_paper(isp):
    convs = [m for m in isp.conv_wb.net.features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.kernel_size[0], c.out_channels) for c in convs] == [(7, 16), (5, 32), (3, 128)]
    assert isp.conv_cc.net.mlp[-1].out_features == 9
    assert isp.conv_wb.net.mlp[-1].out_features == 3
    body = list(isp.convnet.body)
    kinds = [type(m).__name__ for m in body]
    assert kinds == ['Conv2d', 'InstanceNorm2d', 'LeakyReLU', 'Conv2d', 'InstanceNorm2d',
                     'LeakyReLU', 'Conv2d']
    assert [(body[i].kernel_size[0], body[i].out_channels) for i in (0, 3, 6)] == \
        [(3, 16), (3, 64), (1, 3)]


@pytest.mark.parametrize('batch', [1, 3])
def test_shallow_convnet_equals_its_plain_layers_in_float64(batch):
    """The fast forward (group norm per channel, in-place LeakyReLU, 1x1 conv as a matmul)
    computes what ``body``'s layers compute, outputs and every gradient."""
    torch.manual_seed(0)
    net = GenISP().convnet.double()
    for p in net.parameters():  # away from the init (unit norm scale, zero shift)
        torch.nn.init.normal_(p, mean=0.5, std=0.5)
    x = torch.rand(batch, 3, 24, 40, dtype=torch.float64) * 3 - 1
    weights = torch.randn(batch, 3, 24, 40, dtype=torch.float64)
    results = []
    for forward in (net.forward, net.body.forward):
        net.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        out = forward(xi)
        (out * weights).sum().backward()
        results.append([out, xi.grad] + [p.grad for p in net.parameters()])
    names = ['output', 'input grad'] + [n for n, _ in net.named_parameters()]
    for name, fast, plain in zip(names, *results):
        if name in ('body.0.bias', 'body.3.bias'):
            # a bias before a norm has no effect: its gradient is 0 up to rounding in both
            assert fast.abs().max() < 1e-9 and plain.abs().max() < 1e-9, name
        else:
            torch.testing.assert_close(fast, plain, rtol=1e-10, atol=1e-12, msg=name)


def test_parameter_net_equals_the_papers_layer_order(isp):
    """Pooling before the LeakyReLU is the paper's conv -> LeakyReLU -> max-pool, outputs and
    every gradient (the activation is increasing, so it commutes with the max)."""
    net = copy.deepcopy(isp.conv_cc.net).double()
    torch.manual_seed(0)
    for p in net.parameters():  # away from the zero-initialised last layer
        torch.nn.init.normal_(p, std=0.3)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    act = torch.nn.LeakyReLU(0.01)

    def papers_order(x):
        for conv in convs:
            x = torch.nn.functional.max_pool2d(act(conv(x)), 2)
        return net.mlp(x.mean(dim=(2, 3)))

    x = torch.randn(2, 3, 64, 48, dtype=torch.float64)
    results = []
    for forward in (net.forward, papers_order):
        net.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        out = forward(xi)
        (out * torch.arange(1.0, 10.0, dtype=torch.float64)).sum().backward()
        results.append([out, xi.grad] + [p.grad for p in net.parameters()])
    names = ['output', 'input grad'] + [n for n, _ in net.named_parameters()]
    for name, ours, paper in zip(names, *results):
        torch.testing.assert_close(ours, paper, rtol=1e-10, atol=1e-12, msg=name)


def test_starts_at_identity_gains_and_matrix(isp):
    out = isp.forward_with_params(dark_scene())
    assert torch.equal(out['wb_gains'], torch.ones(2, 3))
    assert torch.equal(out['cc_matrix'], torch.eye(3).expand(2, 3, 3))
    assert out['image'].shape == (2, 3, 40, 56)


def test_each_image_gets_its_own_parameters(isp):
    for p in isp.parameters():  # move away from the identity start
        torch.nn.init.normal_(p, std=0.05)
    x = torch.cat([dark_scene(1, seed=1), dark_scene(1, seed=2) * torch.tensor(
        [2.0, 1.0, 0.3]).view(1, 3, 1, 1)])
    out = isp.forward_with_params(x)
    assert not torch.allclose(out['wb_gains'][0], out['wb_gains'][1])
    assert not torch.allclose(out['cc_matrix'][0], out['cc_matrix'][1])
    # batched result equals the per-image result
    single = isp.forward_with_params(x[1:])
    torch.testing.assert_close(out['wb_gains'][1], single['wb_gains'][0])
    torch.testing.assert_close(out['image'][1], single['image'][0], atol=1e-5, rtol=1e-5)


def test_gains_and_matrix_are_applied_to_the_full_image(isp):
    for p in isp.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = dark_scene(1)
    out = isp.forward_with_params(x)
    expected_wb = isp.normalize_exposure(x)[0] * out['wb_gains'][:, :, None, None]
    torch.testing.assert_close(out['white_balanced'], expected_wb)
    expected_cc = torch.einsum('ij,jhw->ihw', out['cc_matrix'][0], expected_wb[0])
    torch.testing.assert_close(out['color_corrected'][0], expected_cc, atol=1e-6, rtol=1e-5)


def test_parameter_nets_ignore_exposure(isp):
    for p in isp.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x = dark_scene(1, exposure=1.0)
    bright = isp.forward_with_params(x)
    dark = isp.forward_with_params(x / 200)
    torch.testing.assert_close(bright['wb_gains'], dark['wb_gains'], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(bright['cc_matrix'], dark['cc_matrix'], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name,x', [
    ('all black', torch.zeros(2, 3, 32, 48)),
    ('saturated', torch.ones(2, 3, 32, 48)),
    ('1000x under-exposed', dark_scene(2, 32, 48, exposure=1e-3)),
])
def test_extreme_inputs_stay_finite(isp, name, x):
    x = x.clone().requires_grad_(True)
    out = isp(x)
    out.square().mean().backward()
    assert torch.isfinite(out).all(), name
    assert torch.isfinite(x.grad).all(), name
    for n, p in isp.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), (name, n)


def test_bfloat16_autocast_forward_backward_finite(isp):
    x = dark_scene(2, 64, 80, exposure=0.005)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = isp(x)
        loss = out.float().square().mean()
    loss.backward()
    assert torch.isfinite(out.float()).all()
    grads = [p.grad for p in isp.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_ablation_switches(isp):
    plain = GenISP(use_wb=False, use_cc=False)
    assert plain.conv_wb is None and plain.conv_cc is None
    out = plain.forward_with_params(dark_scene())
    torch.testing.assert_close(out['color_corrected'], plain.normalize_exposure(dark_scene())[0])


def test_exposure_is_normalised_before_the_shallow_convnet(isp):
    """InstanceNorm's eps would flatten a 1e-3 signal: the ISP must see every exposure alike."""
    x = dark_scene(1, exposure=1.0)
    bright, dark = isp(x), isp(x / 500)
    torch.testing.assert_close(bright, dark, rtol=1e-3, atol=1e-4)
    assert bright.std() > 0.05  # structure survives, not a flat grey


def _trained_step(isp, x, target):
    isp.zero_grad()
    out = isp(x)
    ((out - target) ** 2).mean().backward()
    return out.detach(), [p.grad.clone() for p in isp.parameters()]


def test_compiled_convnet_matches_eager_and_keeps_the_state_dict():
    torch.manual_seed(0)
    eager = GenISP()
    compiled = GenISP(compile_convnet=True)
    compiled.load_state_dict(eager.state_dict())
    assert list(compiled.state_dict()) == list(eager.state_dict())
    x, target = torch.rand(2, 3, 40, 56) * 0.05, torch.rand(2, 3, 40, 56)
    out_c, grads_c = _trained_step(compiled, x, target)
    assert compiled.compile_convnet, 'compilation failed and fell back to eager'
    assert compiled._compiled_convnet._orig_mod is compiled.convnet
    out_e, grads_e = _trained_step(eager, x, target)
    torch.testing.assert_close(out_c, out_e, atol=1e-5, rtol=1e-4)
    for gc, ge in zip(grads_c, grads_e):
        torch.testing.assert_close(gc, ge, atol=1e-5, rtol=1e-3)
    # a deep copy compiles its own ConvNet: it must not run the original's weights
    clone = copy.deepcopy(compiled)
    with torch.no_grad():
        clone.convnet.body[-1].bias.add_(1.0)
        torch.testing.assert_close(clone(x), compiled(x) + 1.0, atol=1e-5, rtol=1e-4)


def compile_raising(error):
    def broken_compile(module, **kwargs):
        def run(x):
            raise error
        run._orig_mod = module
        return run
    return broken_compile


def test_failed_compilation_warns_once_and_runs_eagerly(monkeypatch):
    from torch._inductor.exc import CppCompileError
    monkeypatch.setattr(torch, 'compile', compile_raising(
        CppCompileError(['c++', 'kernel.cpp'], 'c++: command not found')))
    isp = GenISP(compile_convnet=True)
    x = torch.rand(1, 3, 24, 32)
    with pytest.warns(UserWarning, match='torch.compile of the shallow ConvNet failed '
                                         r'\(CppCompileError: C\+\+ compile error\)'):
        out = isp(x)
    assert not isp.compile_convnet
    torch.testing.assert_close(out, GenISP.forward(isp, x))


def test_other_errors_of_the_compiled_convnet_are_not_taken_for_a_compile_failure(
        monkeypatch):
    monkeypatch.setattr(torch, 'compile', compile_raising(
        torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')))
    isp = GenISP(compile_convnet=True)
    with pytest.raises(torch.OutOfMemoryError, match='out of memory'):
        isp(torch.rand(1, 3, 24, 32))
    assert isp.compile_convnet  # still compiled: memory, not the compiler, was the problem


@pytest.mark.parametrize('space', ['xyz', 'camera'])
def test_residual_genisp_starts_as_the_fixed_rendering_and_learns_a_correction(space):
    from genisp_mmdet.models import GainGammaISP
    torch.manual_seed(0)
    isp = GenISP(residual_to=space)
    fixed = GainGammaISP(color_space=space)
    # dark packed RAW with structure, two exposures
    x = torch.rand(2, 3, 40, 56) * torch.tensor([0.002, 0.02]).view(2, 1, 1, 1)
    torch.testing.assert_close(isp(x), fixed(x), atol=1e-5, rtol=0)
    # the paper's GenISP renders something else entirely at step 0
    assert (GenISP()(x) - fixed(x)).abs().mean() > 0.05
    # one step towards a brighter picture moves the output away from the fixed rendering
    optimizer = torch.optim.Adam(isp.parameters(), lr=1e-2)
    (1.0 - isp(x)).mean().backward()
    optimizer.step()
    assert (isp(x) - fixed(x)).mean() > 1e-3


def test_residual_option_is_checked():
    with pytest.raises(ValueError, match="residual_to must be None, 'xyz' or 'camera'"):
        GenISP(residual_to='srgb')


def test_noise_estimate_recovers_white_noise_and_ignores_smooth_shading():
    from genisp_mmdet.models.genisp import estimate_noise
    torch.manual_seed(0)
    ramp = torch.linspace(0, 1, 256).view(1, 1, 1, 256).expand(2, 3, 128, 256)
    sigma = torch.tensor([0.01, 0.1]).view(2, 1, 1, 1)
    # the same noise in every channel, so the channel mean keeps its level
    noisy = ramp + sigma * torch.randn(2, 1, 128, 256)
    torch.testing.assert_close(estimate_noise(noisy), sigma.flatten(), rtol=0.1, atol=0)
    assert float(estimate_noise(ramp.contiguous()).max()) < 1e-4


def test_noise_gate_starts_neutral_and_needs_the_residual():
    from genisp_mmdet.models import GainGammaISP
    x = torch.rand(2, 3, 40, 56) * 0.01
    isp = GenISP(residual_to='xyz', noise_gate=True)
    torch.testing.assert_close(isp(x), GainGammaISP(color_space='xyz')(x), atol=1e-5, rtol=0)
    with torch.no_grad():
        isp.convnet.body[-1].bias.fill_(0.2)
    isp(x).sum().backward()
    assert isp.noise_gate.grad.abs().min() > 0  # both gate parameters learn
    with pytest.raises(ValueError, match='noise_gate scales the correction of residual_to'):
        GenISP(noise_gate=True)



def test_chroma_noise_estimate_reads_noise_where_texture_fools_the_luminance_one():
    from genisp_mmdet.models.genisp import estimate_noise
    g = torch.Generator().manual_seed(0)
    # grey texture (common to the channels) of strength 0.05, flat and textured, each with
    # independent channel noise of 0.01 and 0.04
    texture = 0.05 * torch.randn(1, 1, 96, 128, generator=g)
    scenes = torch.cat([torch.zeros(1, 1, 96, 128), texture]).expand(2, 3, 96, 128)
    sigma = torch.tensor([0.01, 0.04])
    noisy = [0.3 + scenes + s * torch.randn(2, 3, 96, 128, generator=g) for s in sigma]
    chroma = [estimate_noise(x, 'chroma') for x in noisy]
    luminance = [estimate_noise(x, 'luminance') for x in noisy]
    for level, s in zip(chroma, sigma):  # texture or not: the channel noise, sqrt(2) for a difference
        torch.testing.assert_close(level, (2 ** 0.5 * s).expand(2), rtol=0.1, atol=0)
    # the luminance estimate ranks the clean textured scene above the flat noisy one
    assert float(luminance[0][1]) > float(luminance[1][0])
    assert float(chroma[0][1]) < float(chroma[1][0])
    with pytest.raises(ValueError, match='signal must be one of'):
        estimate_noise(noisy[0], 'green')


@pytest.mark.parametrize('signal', ['luminance', 'chroma'])
def test_noise_gate_reads_its_signal_and_reports_the_gate(signal):
    from genisp_mmdet.models.genisp import estimate_noise
    torch.manual_seed(0)
    isp = GenISP(residual_to='xyz', noise_gate=True, noise_signal=signal)
    with torch.no_grad():
        isp.noise_gate.copy_(torch.tensor([1.0, 0.5]))
        isp.convnet.body[-1].bias.fill_(0.2)
    x = torch.rand(2, 3, 40, 56) * torch.tensor([0.002, 0.02]).view(2, 1, 1, 1)
    out = isp.forward_with_params(x)
    z = torch.log(estimate_noise(out['color_corrected'], signal)) + 2.5
    torch.testing.assert_close(out['noise_gate'], torch.sigmoid(4 * (z + 0.5)))
    # the correction (the ConvNet's bias here) is scaled by the gate
    ungated = isp.run_convnet(out['color_corrected'])
    fixed = isp.fixed_rendering(out['color_corrected'])
    torch.testing.assert_close(out['image'], fixed + out['noise_gate'].view(2, 1, 1, 1) * ungated)
    with pytest.raises(ValueError, match='noise_signal must be one of'):
        GenISP(residual_to='xyz', noise_gate=True, noise_signal='green')
