"""The Winograd 3×3 convolution (StyleGAN3's fast float32 CPU path) against F.conv2d."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402

from sonicdreams.generators.stylegan import _winograd as W  # noqa: E402


def _rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    """Largest absolute error relative to the output scale (its largest magnitude)."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().max())


@pytest.fixture
def band_tiles():
    """Restore the module's band size after a test changes it."""
    saved = W.BAND_TILES
    yield
    W.BAND_TILES = saved


@pytest.mark.parametrize("m", [4, 6])
def test_matrices_compute_a_correlation_exactly(m):
    at, g, bt = W.winograd_matrices(m)
    n = m + 2
    assert at.shape == (m, n) and g.shape == (n, 3) and bt.shape == (n, n)
    rng = np.random.default_rng(0)
    for _ in range(5):
        taps, d = rng.standard_normal(3), rng.standard_normal(n)
        want = np.array([taps @ d[i: i + 3] for i in range(m)])
        np.testing.assert_allclose(at @ ((g @ taps) * (bt @ d)), want, rtol=0, atol=1e-12)
    if m == 4:  # integer points: the input transform is small integers
        assert np.array_equal(bt, np.round(bt)) and np.abs(bt).max() == 5


# (batch, in, out, height, width, padding, band tiles): odd sizes, sizes that are and are not
# tile multiples, SG3's padding 2, bands of one tile row and bands that cut rows.
SHAPES = [
    (1, 64, 64, 36, 36, 2, 512),
    (2, 65, 70, 17, 20, 1, 512),
    (1, 16, 8, 36, 33, 2, 16),
    (3, 8, 5, 7, 9, 0, 4),
    (1, 4, 4, 3, 3, 0, 1),
    (1, 4, 4, 1, 1, 2, 1),
    (2, 12, 7, 30, 31, 3, 20),
    (1, 5, 6, 11, 6, 1, 3),
    (2, 128, 96, 52, 52, 2, 100),
]


@pytest.mark.parametrize("tile", [4, 6])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_conv3x3_matches_conv2d(shape, tile, band_tiles):
    n, c, o, h, w, p, bt = shape
    W.BAND_TILES = bt
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(n, c, h, w, generator=gen)
    weight = torch.randn(o, c, 3, 3, generator=gen)
    want = F.conv2d(x, weight, padding=p)
    with torch.inference_mode():
        got = W.conv3x3(x, weight, padding=p, tile=tile)
    assert got.shape == want.shape and got.is_contiguous() and got.dtype == torch.float32
    assert _rel_err(got, want) < 1e-4
    with torch.no_grad():  # outside inference mode too (cached transform, same buffers)
        again = W.conv3x3(x, weight, padding=p, tile=tile)
    assert torch.equal(again, got)


@pytest.mark.parametrize("tile", [4, 6])
def test_scales_fold_into_the_convolution(tile):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 24, 19, 22, generator=gen)
    weight = torch.randn(10, 24, 3, 3, generator=gen)
    s_in = torch.rand(2, 24, generator=gen) + 0.5
    s_out = torch.rand(2, 10, generator=gen) + 0.5
    want = F.conv2d(x * s_in[:, :, None, None], weight, padding=2) * s_out[:, :, None, None]
    with torch.inference_mode():
        got = W.conv3x3(x, weight, padding=2, in_scale=s_in, out_scale=s_out, tile=tile)
        only_out = W.conv3x3(x, weight, padding=2, out_scale=s_out, tile=tile)
    assert _rel_err(got, want) < 1e-4
    assert _rel_err(only_out, F.conv2d(x, weight, padding=2) * s_out[:, :, None, None]) < 1e-4


def test_sg3_sized_layer_is_accurate():
    """A 512 → 512 layer at 36² with padding 2, as in SG3-T's first layers."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 512, 36, 36, generator=gen)
    weight = torch.randn(512, 512, 3, 3, generator=gen)
    want = F.conv2d(x.double(), weight.double(), padding=2)
    with torch.inference_mode():
        for tile in (4, 6):
            assert _rel_err(W.conv3x3(x, weight, padding=2, tile=tile), want) < 3e-5


@pytest.mark.parametrize("tile", [4, 6])
def test_autograd_gradients_match_conv2d(tile):
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 6, 9, 10, generator=gen)
    w0 = torch.randn(5, 6, 3, 3, generator=gen)
    s0 = torch.rand(2, 6, generator=gen) + 0.5
    grads = []
    for fast in (True, False):
        x, w, s = (t.clone().requires_grad_() for t in (x0, w0, s0))
        with torch.enable_grad():  # (another test module turns grad off globally)
            if fast:
                y = W.conv3x3(x, w, padding=1, in_scale=s, tile=tile)
            else:
                y = F.conv2d(x * s[:, :, None, None], w, padding=1)
            (y * torch.linspace(-1, 1, y.numel()).view_as(y)).sum().backward()
        grads.append((y.detach(), x.grad, w.grad, s.grad))
    for got, want in zip(*grads, strict=True):
        assert _rel_err(got, want) < 1e-4


def test_weight_transform_cache_follows_in_place_changes():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(1, 8, 12, 12, generator=gen)
    weight = torch.randn(4, 8, 3, 3, generator=gen)
    with torch.inference_mode():
        first = W.conv3x3(x, weight, padding=1)
    with torch.no_grad():
        weight.mul_(2)  # bumps the version: the cached transform must not be reused
    with torch.inference_mode():
        second = W.conv3x3(x, weight, padding=1)
    assert _rel_err(second, 2 * first) < 1e-5
    # A different tensor with the same values gives the same result (no stale entry by address).
    clone = weight.clone()
    with torch.inference_mode():
        assert _rel_err(W.conv3x3(x, clone, padding=1), second) < 1e-6


def test_supported_only_for_float32_cpu_without_autograd_or_autocast():
    x = torch.randn(1, 128, 8, 8)
    weight = torch.randn(128, 128, 3, 3)
    with torch.inference_mode():
        assert W.supported(x, weight)
        assert not W.supported(x.double(), weight.double())
        assert not W.supported(x.bfloat16(), weight.bfloat16())
        assert not W.supported(x[:, :64], weight[:64, :64])  # too few channels to pay
        assert not W.supported(x, weight[:, :, :1, :1])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not W.supported(x, weight)
        saved = W.ENABLED
        W.ENABLED = False
        try:
            assert not W.supported(x, weight)
        finally:
            W.ENABLED = saved
    with torch.enable_grad():
        assert not W.supported(x.requires_grad_(), weight)  # x requires grad
    with torch.no_grad():
        assert W.supported(x, weight)


def test_rejects_bad_arguments():
    x = torch.randn(1, 4, 5, 5)
    with pytest.raises(ValueError):
        W.conv3x3(x, torch.randn(2, 3, 3, 3))
    with pytest.raises(ValueError):
        W.conv3x3(x, torch.randn(2, 4, 3, 3), padding=-1)
    with pytest.raises(ValueError):
        W.conv3x3(x, torch.randn(2, 4, 3, 3), tile=5)
    with pytest.raises(ValueError):
        W.conv3x3(torch.randn(1, 4, 1, 1), torch.randn(2, 4, 3, 3))


def test_sg3_output_unchanged_by_the_winograd_path():
    """A small SG3-T whose 3×3 layers are wide enough for the fast path: same images."""
    pytest.importorskip("scipy")
    from sonicdreams.generators.stylegan import sg3_config

    cfg = sg3_config.new_config(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, channel_base=4096,
                         channel_max=128, num_layers=6)
    G = sg3_config.new_generator(cfg, seed=3)
    wide = [sp for sp in cfg["synthesis"]["layers"] if sp["conv_kernel"] == 3
            and min(sp["in_channels"], sp["out_channels"]) >= W.MIN_CHANNELS]
    assert len(wide) >= 3
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(0))
    saved = W.ENABLED
    try:
        with torch.inference_mode():
            W.ENABLED = False
            want = G(z, None, truncation_psi=0.7)
            W.ENABLED = True
            got = G(z, None, truncation_psi=0.7)
        with torch.no_grad():
            again = G(z, None, truncation_psi=0.7)
    finally:
        W.ENABLED = saved
    assert float((got - want).abs().max()) < 1e-4 * max(1.0, float(want.abs().max()))
    assert not torch.equal(got, want)  # the fast path did run
    assert torch.equal(again, got)
