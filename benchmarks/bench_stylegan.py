"""StyleGAN2 speed on this machine, and (optionally) against the official implementation.

    python benchmarks/bench_stylegan.py                      # ours: config-F 256² and 512²
    python benchmarks/bench_stylegan.py --official /tmp/nv   # + NVlabs/stylegan3 in one run

``--official DIR`` points at a checkout of NVlabs/stylegan3 kept OUTSIDE this repository (never
copied into it). The same random config-F weights are loaded into both networks (the parameter
names are the same), so the run also reports the max abs difference of their images. The cache
figure times ``load_stylegan`` of a converted 1024² network (the second load of a file).
``ours_torch_blur_s_per_image_batch1`` is the batch-1 figure with the blur after each
upsampling run as oneDNN's depthwise convolution (``_blur.ENABLED = False``, the path before
the compiled one), in the same run. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from sonicdreams.generators.stylegan import _blur, load_stylegan
from sonicdreams.generators.stylegan.sg2 import Generator


def _config_f(res: int) -> Generator:
    torch.manual_seed(res)
    G = Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res,
                  mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.1)
    return G.eval().requires_grad_(False)


def _time(fn, *, repeats: int) -> float:
    fn()  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _official(nv_dir: str, res: int, ours: Generator):
    sys.path[:0] = [nv_dir]
    try:
        import pkg_resources  # noqa: F401  (the official code imports it)
    except ImportError:  # newer setuptools: give it what it needs
        import types

        from packaging.version import parse

        sys.modules["pkg_resources"] = types.SimpleNamespace(parse_version=parse)
    from training.networks_stylegan2 import Generator as Official  # type: ignore

    G = Official(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                 mapping_kwargs=dict(num_layers=8), channel_base=32768, channel_max=512,
                 num_fp16_res=0, conv_clamp=None)
    G.load_state_dict(ours.state_dict())
    return G.eval().requires_grad_(False)


def _measure(res: int, args: argparse.Namespace) -> dict:
    G = _config_f(res)
    z = torch.randn(4, 512, generator=torch.Generator().manual_seed(1))
    entry: dict = {"params_M": round(sum(p.numel() for p in G.parameters()) / 1e6, 2)}
    entry["ours_s_per_image_batch1"] = round(
        _time(lambda: G(z[:1], None, noise_mode="const"), repeats=args.repeats), 3)
    entry["ours_s_per_image_batch4"] = round(
        _time(lambda: G(z, None, noise_mode="const"), repeats=args.repeats) / 4, 3)
    try:  # the blur after each upsampling as oneDNN's depthwise convolution (the path before)
        _blur.ENABLED = False
        entry["ours_torch_blur_s_per_image_batch1"] = round(
            _time(lambda: G(z[:1], None, noise_mode="const"), repeats=args.repeats), 3)
    finally:
        _blur.ENABLED = True
    with torch.autocast("cpu", dtype=torch.bfloat16):
        entry["ours_bf16_s_per_image_batch1"] = round(
            _time(lambda: G(z[:1], None, noise_mode="const"), repeats=args.repeats), 3)
    if args.official:
        O = _official(args.official, res, G)
        c = torch.zeros(1, 0)
        entry["official_s_per_image_batch1"] = round(_time(
            lambda: O(z[:1], c, noise_mode="const", force_fp32=True),
            repeats=args.repeats), 3)
        entry["speedup_vs_official_batch1"] = round(
            entry["official_s_per_image_batch1"] / entry["ours_s_per_image_batch1"], 2)
        diff = (O(z[:2], torch.zeros(2, 0), truncation_psi=0.7, noise_mode="const",
                  force_fp32=True)
                - G(z[:2], None, truncation_psi=0.7, noise_mode="const")).abs().max()
        entry["max_abs_diff_vs_official"] = float(diff)
    return entry


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", metavar="DIR", help="NVlabs/stylegan3 checkout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="256,512")
    args = parser.parse_args()
    result: dict = {"threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__}
    for res in (int(s) for s in args.sizes.split(",")):
        result[f"sg2_config_f_{res}"] = _measure(res, args)
    # Loading a converted 1024² network from the cache (the second load of a file).
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SONICDREAMS_MODELS"] = tmp
        os.environ["SONICDREAMS_CACHE"] = tmp
        path = Path(tmp) / "ffhq-1024.pt"
        torch.save(_config_f(1024).state_dict(), path)
        t0 = time.perf_counter()
        load_stylegan(path, device="cpu")
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_stylegan(path, device="cpu")
        result["load_1024_first_s"] = round(first, 2)
        result["load_1024_from_cache_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
