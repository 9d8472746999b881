"""Chapter 13's DDP check under forced CPU kernel paths (issue 13): for each path, the largest weight gap between
2 gloo processes × 16 images ("ddp"), one process with batches of 32 ("single"), one process with two consecutive
micro-batches of 16 ("halves"), and whether DDP equals its single-process twin (`ddp_train(simulate=2)`) bit for bit.

    python tools/ddp_kernel_paths.py [--model seed] [--images 512]     (a few minutes on a 2-core CPU)

Each path runs in fresh processes, because ATEN_CPU_CAPABILITY and DNNL_MAX_CPU_ISA are read at start-up."""
import argparse, json, os, subprocess, sys, tempfile
from pathlib import Path

PATHS = [{}, {"ATEN_CPU_CAPABILITY": "default"}, {"ATEN_CPU_CAPABILITY": "avx2"}, {"DNNL_MAX_CPU_ISA": "AVX2"},
         {"ATEN_CPU_CAPABILITY": "avx2", "DNNL_MAX_CPU_ISA": "AVX2"}]


def one(model: str, images: int, threads: int) -> dict:
    "The gaps on this process's kernel path (every process of it, torchrun's included, uses `threads` threads)."
    import torch
    from safetensors.torch import load_file
    from gpuvision_nb.distributed import ddp_train, launch
    torch.set_num_threads(threads)
    d, runs = Path(tempfile.mkdtemp()), dict(model=model, n=images, epochs=1, lr=0.02, schedule="constant", device="cpu")
    ddp_train(**runs, batch_size=32, out=d / "single")
    ddp_train(**runs, batch_size=16, accumulate=2, out=d / "halves")
    ddp_train(**runs, batch_size=16, simulate=2, out=d / "twin")
    launch(["train", "--model", model, "--images", images, "--batch-size", 16, "--epochs", 1, "--lr", 0.02,
            "--schedule", "constant", "--device", "cpu", "--out", d / "ddp"], nproc_per_node=2, threads=threads, timeout=600)
    w = {k: load_file(d / k / "model.safetensors") for k in ("single", "halves", "twin", "ddp")}
    gap = lambda a, b: max((w[a][k] - w[b][k]).abs().max().item() for k in w[a])
    return {"cpu capability": torch.backends.cpu.get_cpu_capability(), "single-ddp": gap("single", "ddp"),
            "single-halves": gap("single", "halves"), "ddp == twin": all(torch.equal(w["ddp"][k], w["twin"][k]) for k in w["ddp"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="seed"); p.add_argument("--images", type=int, default=512)
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)        # internal: one path, N threads
    a = p.parse_args()
    if a.one is not None: print(json.dumps(one(a.model, a.images, a.one))); return
    print(f"{'threads':>7}  {'forced path':48} {'capability':>10} {'single-ddp':>10} {'single-halves':>13}  ddp == twin")
    for threads in (1, 2):
        for env in PATHS:
            r = subprocess.run([sys.executable, __file__, "--model", a.model, "--images", str(a.images), "--one", str(threads)],
                               capture_output=True, text=True, env={**os.environ, **env, "OMP_NUM_THREADS": str(threads)})
            if r.returncode: sys.exit(f"{env}: failed\n{r.stderr[-2000:]}")
            d = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{threads:>7}  {' '.join(f'{k}={v}' for k, v in env.items()) or '(none)':48} {d['cpu capability']:>10} "
                  f"{d['single-ddp']:>10.1e} {d['single-halves']:>13.1e}  {d['ddp == twin']}", flush=True)


if __name__ == "__main__":
    main()
