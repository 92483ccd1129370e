"""StyleGAN3 generator benchmark: prints one JSON object.

- ``t256_b1_s_per_image`` / ``t256_b4_s_per_image``: our pure-PyTorch SG3-T at 256² with the
  real config size (channel_base 32768, channel_max 512, z/w 512), fp32 on CPU, seconds per
  image (median of ``--repeats`` timed calls after one warm-up call) at batch 1 and batch 4.
- ``t256_b1_direct_conv_s_per_image``: the float32 batch-1 figure with the Winograd 3×3
  convolutions switched off (``_winograd.ENABLED = False``: oneDNN's direct convolution, the
  path before it), and ``t256_winograd_max_abs_change``, how far the Winograd path moves the
  image (float32 rounding only).
- ``t256_b1_torch_nonlinearity_s_per_image``: the float32 batch-1 figure with the filtered
  leaky ReLU as whole-map PyTorch products (``_flrelu.ENABLED = False``, the path before the
  compiled one), and ``t256_compiled_nonlinearity_max_abs_change``, how far the compiled path
  moves the image.
- ``t256_b1_bf16_s_per_image``: the same in bfloat16 (``precision=bf16``; ``auto`` keeps a CPU
  in float32, now the faster), and ``t256_bf16_mean_abs_change``, how much that moves the
  image.
- ``--config R`` adds the same for SG3-R (channel_base 65536, channel_max 1024, 1×1 convs,
  radial filters).
- ``load_avg_1min`` and ``other_processes_mean_cores`` (CPU time other processes used while
  this ran, from /proc/stat and our own rusage, over the wall time): above about 0.2 cores on a
  2-core machine the figures are inflated.

The reference figure for the official code's pure-PyTorch ops on the same kind of machine is
15–21 s per image (SG3-T 256², batch 1); the target is ≤ 3 s.

Usage: python benchmarks/bench_stylegan3.py [--repeats 3] [--config R]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time


def _total_cpu_s() -> float | None:
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    ticks = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))  # minus idle, iowait
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _time_generator(G, *, batch: int, repeats: int, bf16: bool = False) -> float:
    import torch

    z = torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        G(z, None, truncation_psi=0.7)  # warm-up (builds the resampling matrices)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            G(z, None, truncation_psi=0.7)
            times.append(time.perf_counter() - t0)
    return statistics.median(times) / batch


def _switched_off(module, G, z, *, repeats: int):
    """(batch-1 seconds an image, image of ``z``) with ``module.ENABLED`` off: the path
    before it."""
    import torch

    saved = module.ENABLED
    try:
        module.ENABLED = False
        seconds = round(_time_generator(G, batch=1, repeats=repeats), 3)
        with torch.inference_mode():
            return seconds, G(z, None, truncation_psi=0.7)
    finally:
        module.ENABLED = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--config", choices=["T", "R"], action="append", default=None,
                        help="extra configs to time (T is always timed)")
    args = parser.parse_args()

    import torch

    from sonicdreams.generators.stylegan import _flrelu, _winograd, sg3_config

    wall0, total0, own0 = time.perf_counter(), _total_cpu_s(), _own_cpu_s()
    result: dict = dict(torch=torch.__version__, threads=torch.get_num_threads(),
                        load_avg_1min=os.getloadavg()[0], dtype="float32", device="cpu",
                        target_t256_b1_s_per_image=3.0, official_ref_ops_t256_b1_s=[15, 21])
    configs = ["T"] + [c for c in (args.config or []) if c != "T"]
    for name in configs:
        kwargs = dict(z_dim=512, c_dim=0, w_dim=512, img_resolution=256)
        if name == "R":
            kwargs.update(channel_base=65536, channel_max=1024, conv_kernel=1,
                          use_radial_filters=True)
        G = sg3_config.new_generator(sg3_config.new_config(**kwargs), seed=0)
        key = name.lower() + "256"
        result[f"{key}_params_m"] = round(sum(p.numel() for p in G.parameters()) / 1e6, 2)
        for batch in (1, 4):
            result[f"{key}_b{batch}_s_per_image"] = round(
                _time_generator(G, batch=batch, repeats=args.repeats), 3)
        if name == "T":  # before/after of the float32 3×3 convolutions and nonlinearity
            z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5))
            with torch.inference_mode():
                fast = G(z, None, truncation_psi=0.7)
            for module, what, change in (
                    (_winograd, "direct_conv", "winograd"),
                    (_flrelu, "torch_nonlinearity", "compiled_nonlinearity")):
                seconds, before = _switched_off(module, G, z, repeats=args.repeats)
                result[f"{key}_b1_{what}_s_per_image"] = seconds
                result[f"{key}_{change}_max_abs_change"] = float(
                    f"{(fast - before).abs().max():.2e}")
        # precision=bf16, and how far it moves the image (in [-1, 1] units; one level of 255 is
        # 0.0078).
        result[f"{key}_b1_bf16_s_per_image"] = round(
            _time_generator(G, batch=1, repeats=args.repeats, bf16=True), 3)
        z = torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(5))
        with torch.inference_mode():
            ref = G(z, None, truncation_psi=0.7)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                low = G(z, None, truncation_psi=0.7).float()
        result[f"{key}_bf16_mean_abs_change"] = round(float((low - ref).abs().mean()), 5)
    wall = time.perf_counter() - wall0
    total1 = _total_cpu_s()
    if total0 is not None and total1 is not None:
        others = max(0.0, (total1 - total0) - (_own_cpu_s() - own0))
        result["other_processes_mean_cores"] = round(others / wall, 2)
    result["wall_s"] = round(wall, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
