"""This machine's physical limits for one thread: the FMA rate (a small C kernel of independent vector
fused multiply-adds, compiled with -O3 -march=native) and the read and read-write bandwidth of each
cache level and of memory (sums over, and in-place updates of, arrays of 16 KB to 256 MB), all in
processor time (CLOCK_PROCESS_CPUTIME_ID), each the median of several runs.

``limit_us(flops, bytes_moved, working_set)`` turns a step's work into the least time it can take here:
the larger of its floating-point operations at the FMA rate and its bytes at the bandwidth of the
smallest level that holds its working set.

    python benchmarks/machine_limit.py
"""

from __future__ import annotations

import functools
import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

KERNEL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef double v4 __attribute__((vector_size(32)));

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* 12 independent chains of a = a * b + c on 4 doubles each: 2 FLOPs a lane an FMA. */
static double fma_rate(long reps)
{
    const v4 b = {1.0000001, 1.0000001, 1.0000001, 1.0000001}, c = {1e-9, 1e-9, 1e-9, 1e-9};
    v4 a0 = b * 0.1, a1 = b * 0.2, a2 = b * 0.3, a3 = b * 0.4, a4 = b * 0.5, a5 = b * 0.6;
    v4 a6 = b * 0.7, a7 = b * 0.8, a8 = b * 0.9, a9 = b * 1.1, a10 = b * 1.2, a11 = b * 1.3;
    double t0 = now();
    for (long r = 0; r < reps; r++) {
        a0 = a0 * b + c, a1 = a1 * b + c, a2 = a2 * b + c, a3 = a3 * b + c, a4 = a4 * b + c, a5 = a5 * b + c;
        a6 = a6 * b + c, a7 = a7 * b + c, a8 = a8 * b + c, a9 = a9 * b + c, a10 = a10 * b + c, a11 = a11 * b + c;
    }
    double t = now() - t0;
    v4 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    if (s[0] + s[3] == 42.0) puts("");
    return 12.0 * 4 * 2 * reps / t / 1e9;
}

/* GB/s reading n doubles `passes` times (read), or updating them in place p -= r * q (update: 2 reads, 1 write). */
static double bandwidth(long n, int update)
{
    double *p = aligned_alloc(64, n * sizeof *p), *q = aligned_alloc(64, n * sizeof *q);
    for (long k = 0; k < n; k++) p[k] = 1.0 + k % 7, q[k] = 1e-9 * (k % 5);
    long passes = 1 + 400000000L / n;
    v4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    const v4 *v = (const v4 *)p;
    double t0 = now();
    for (long r = 0; r < passes; r++) {
        if (update) {
            for (long k = 0; k < n; k++) p[k] -= 1e-3 * q[k];
        } else {
            for (long k = 0; k < n / 4; k += 4) s0 += v[k], s1 += v[k + 1], s2 += v[k + 2], s3 += v[k + 3];
        }
        __asm__ volatile("" ::: "memory");
    }
    double t = now() - t0;
    if ((s0 + s1 + s2 + s3)[0] + p[n / 2] == 42.0) puts("");
    free(p), free(q);
    return (update ? 3.0 : 1.0) * 8.0 * n * passes / t / 1e9;
}

int main(void)
{
    printf("{\"fma_gflops\": %.3f", fma_rate(100000000L));
    long sizes[] = {2048, 32768, 1048576, 33554432};  /* 16 KB, 256 KB, 8 MB, 256 MB of doubles */
    const char *names[] = {"L1", "L2", "L3", "memory"};
    for (int i = 0; i < 4; i++) {
        printf(", \"%s_read_gbs\": %.3f, \"%s_update_gbs\": %.3f", names[i], bandwidth(sizes[i], 0), names[i],
               bandwidth(sizes[i], 1));
    }
    puts("}");
    return 0;
}
"""

#: The bytes each level holds where the system does not say (the working set must fit to run at its
#: bandwidth): a Zen 2 core's, the project machine's until December 2026.
ASSUMED = {"L1": 32 * 1024, "L2": 512 * 1024, "L3": 16 * 1024 * 1024}


def _cache_sizes(folder: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> dict[str, int]:
    """Each data cache level's size as Linux reports it for the first core (``index*/size``, e.g.
    "1024K"); a level it does not report keeps `ASSUMED`'s (the machine changed under this benchmark
    once: a Zen 4 core's 1 MB L2 priced at L3's bandwidth made a step look faster than its limit)."""
    sizes = dict(ASSUMED)
    for index in sorted(folder.glob("index*")):
        try:
            kind, level = (index / "type").read_text().strip(), (index / "level").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind in ("Data", "Unified") and f"L{level}" in sizes:
            scale = {"K": 1024, "M": 1024 * 1024}.get(size[-1:], 1)
            sizes[f"L{level}"] = int(size.rstrip("KM")) * scale
    return sizes


LEVELS = (*_cache_sizes().items(), ("memory", float("inf")))


@functools.cache
def measure(runs: int = 3) -> dict[str, float]:
    """The machine's figures, the median of ``runs`` runs of the kernel each."""
    with tempfile.TemporaryDirectory() as folder:
        source, binary = Path(folder) / "limit.c", Path(folder) / "limit"
        source.write_text(KERNEL)
        subprocess.run(["cc", "-O3", "-march=native", "-ffp-contract=fast", "-o", str(binary), str(source)],
                       check=True)
        results = [json.loads(subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout)
                   for _ in range(runs)]
    return {key: sorted(r[key] for r in results)[runs // 2] for key in results[0]}


def limit_us(flops: float, bytes_moved: float, working_set: float, figures: dict | None = None) -> float:
    """The least µs a step of ``flops`` operations moving ``bytes_moved`` bytes (a read or a write each)
    over ``working_set`` bytes can take on this machine: its FLOPs at the FMA rate, or its bytes at
    the read-write bandwidth of the smallest level that holds the working set, whichever is larger."""
    figures = figures or measure()
    level = next(name for name, size in LEVELS if working_set <= size)
    return max(flops / figures["fma_gflops"], bytes_moved / figures[f"{level}_update_gbs"]) / 1e3


def dense_step(layers: list[int], batch: int) -> tuple[float, float, float]:
    """(FLOPs, bytes moved, working set) of one SGD step of a dense network on ``batch`` samples, the
    least any implementation must do: the forward products (2 FLOPs a weight and sample), the weight
    gradients (2 a weight and sample), the vectors sent back below the top (2 a weight and sample,
    not into the input layer), the update (2 a parameter); every parameter read and written once,
    every input read once."""
    weights = [a * b for a, b in itertools.pairwise(layers)]
    parameters = sum(weights) + sum(layers[1:])
    flops = batch * (4 * sum(weights) + 2 * sum(weights[1:])) + 2 * parameters
    moved = 8 * (2 * parameters + batch * (layers[0] + layers[-1]))
    return flops, moved, 8 * (parameters + batch * (layers[0] + layers[-1]))


def main() -> int:
    figures = measure()
    print(json.dumps(figures, indent=1))
    for layers in ([2, 2, 2], [4, 16, 16, 3], [784, 32, 10], [784, 125, 10]):
        for batch in (1, 32):
            flops, moved, working = dense_step(layers, batch)
            print(f"{'-'.join(map(str, layers))} batch {batch}: {flops:,.0f} FLOPs, {moved:,.0f} bytes, "
                  f"limit {limit_us(flops, moved, working, figures):.3f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
