"DDP with torchrun/gloo, sharded loading, and run-time resource adjustment (chapter 13)."
import os, subprocess, sys
from unittest import mock

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors.torch import load_file
from torch.utils.data import DistributedSampler, TensorDataset

from gpuvision_nb.device import set_seed
from gpuvision_nb.distributed import (Interleaved, ShardedLoader, accumulation_for, build_parser, cleanup_distributed, cudnn_benchmark,
                                      ddp_train, dist_env, distributed_loader, find_batch_size, free_memory, free_port, is_oom, launch,
                                      pick_backend, rank, setup_distributed, synthetic_images, torchrun_command,
                                      world_size, wrap_ddp)
from gpuvision_nb.models import SeedCNN
from gpuvision_nb.train import fit, is_distributed

TINY = ["--model", "tiny", "--images", "64", "--epochs", "1", "--schedule", "constant", "--lr", "0.05", "--device", "cpu"]


# --- the key test: 2 processes (real torchrun, gloo) == 1 process with the same global batch -----------------------

def test_two_gloo_processes_equal_one_process_accumulating_their_shards(tmp_path):
    """DDP's update is exactly (bit for bit) that of one process accumulating the same two shards with the same kernels
    (one thread each). Against one process with the whole batch, the gap depends on the CPU's kernels (it can reach
    1e-3 after a discrete flip on some CPUs — chapter 13): it is not asserted here."""
    out = launch(["train", *TINY, "--batch-size", "8", "--out", tmp_path / "ddp"], nproc_per_node=2, timeout=120)
    assert "rank 0 of 2 (gloo, cpu): global batch 16, 4 steps/epoch" in out
    assert out.count("rank 0 of") == 1                                   # only rank 0 logs
    args = vars(build_parser().parse_args(["train", *TINY, "--batch-size", "8", "--simulate", "2", "--out", str(tmp_path / "twin")]))
    args.pop("command")
    threads = torch.get_num_threads(); torch.set_num_threads(1)          # as each torchrun process (launch: threads=1)
    try: m = ddp_train(**args)
    finally: torch.set_num_threads(threads)
    assert (m["world_size"], m["simulated_world_size"], m["global_batch"], m["steps_per_epoch"]) == (1, 2, 16, 4)
    two, twin = load_file(tmp_path / "ddp" / "model.safetensors"), load_file(tmp_path / "twin" / "model.safetensors")
    assert list(two) == list(twin)
    set_seed(0); init = SeedCNN(10, widths=(8, 8, 16), hidden=32).state_dict()
    assert any(not torch.equal(twin[k], init[k]) for k in twin)          # it did train
    assert all(torch.equal(two[k], twin[k]) for k in twin)


def test_interleaved_is_the_ranks_micro_batches_in_turn():
    X, Y = torch.arange(12).float()[:, None], torch.arange(12)
    shards = [ShardedLoader(X, Y, 2, seed=0, rank=r, world_size=2) for r in range(2)]
    il = Interleaved(shards)
    assert len(il) == 6
    got = [y.tolist() for _, y in il]
    assert got[0::2] == [y.tolist() for _, y in shards[0]] and got[1::2] == [y.tolist() for _, y in shards[1]]
    il.set_epoch(3)
    assert all(s.sampler.epoch == 3 for s in shards)                     # set_epoch reaches every shard
    with pytest.raises(ValueError, match="equal, non-zero length"): Interleaved([shards[0], ShardedLoader(X[:4], Y[:4], 2)])
    with pytest.raises(ValueError, match="simulate runs alone and without accumulate"):
        ddp_train("tiny", n=16, batch_size=4, simulate=2, accumulate=2, device="cpu")


# --- environment, backend, process group --------------------------------------------------------------------------

def test_dist_env():
    with mock.patch.dict(os.environ, {}, clear=True):
        assert dist_env() == {"rank": 0, "world_size": 1, "local_rank": 0, "launched": False}
    with mock.patch.dict(os.environ, {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}):
        assert dist_env() == {"rank": 3, "world_size": 4, "local_rank": 1, "launched": True}
    for bad, msg in (({"RANK": "4", "WORLD_SIZE": "4"}, "outside 0..3"), ({"RANK": "0", "WORLD_SIZE": "0"}, "WORLD_SIZE must be"),
                     ({"RANK": "one", "WORLD_SIZE": "2"}, "RANK='one'"), ({"LOCAL_RANK": "-1"}, "LOCAL_RANK must be")):
        with mock.patch.dict(os.environ, bad), pytest.raises(ValueError, match=msg): dist_env()


def test_pick_backend():
    assert pick_backend(torch.device("cpu")) == "gloo"
    assert pick_backend(torch.device("cpu"), "gloo") == "gloo"
    with pytest.raises(ValueError, match="needs CUDA tensors"): pick_backend(torch.device("cpu"), "nccl")
    with pytest.raises(ValueError, match="backend must be one of"): pick_backend(torch.device("cpu"), "mpi")


def test_setup_without_torchrun_is_single_process():
    with mock.patch.dict(os.environ, {}, clear=True):
        assert setup_distributed("cpu") == torch.device("cpu")
        assert (is_distributed(), rank(), world_size()) == (False, 0, 1)
        cleanup_distributed()                                             # harmless without a group


def test_one_process_gloo_group_and_wrap():
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    with mock.patch.dict(os.environ, env):
        dev = setup_distributed("cpu")
        try:
            assert (is_distributed(), world_size(), dist.get_backend()) == (True, 1, "gloo")
            assert type(wrap_ddp(SeedCNN(widths=(4, 4, 8), hidden=8), dev)).__name__ == "DistributedDataParallel"
            assert len(ShardedLoader(torch.zeros(10, 1), torch.zeros(10), 4)) == 3        # rank/world from the group
        finally: cleanup_distributed()
    assert not is_distributed()
    with pytest.raises(ValueError, match="needs CUDA"): wrap_ddp(torch.nn.BatchNorm1d(2), "cpu", sync_bn=True)



def test_accumulation_under_ddp_all_reduces_once_per_optimizer_step():
    "fit(accumulate=k) runs the first k-1 backward passes of a group in DDP's no_sync(): one all-reduce per step."
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    x, y = synthetic_images(64, seed=1)
    def all_reduces(accumulate):
        calls = []
        def hook(_, bucket):                                            # counts buckets instead of reducing them
            calls.append(1); fut = torch.futures.Future(); fut.set_result(bucket.buffer()); return fut
        set_seed(0); m = wrap_ddp(SeedCNN(widths=(4, 4, 8), hidden=8), "cpu"); m.register_comm_hook(None, hook)
        fit(m, ShardedLoader(x, y, 8), epochs=1, lr=0.05, schedule="constant", device="cpu", accumulate=accumulate,
            progress=False)
        return len(calls)
    with mock.patch.dict(os.environ, env):
        setup_distributed("cpu")
        try: every, grouped, ragged = all_reduces(1), all_reduces(4), all_reduces(3)
        finally: cleanup_distributed()
    assert every > 0 and grouped * 4 == every                           # 8 batches: 8 all-reduces vs 2
    assert ragged * 8 == every * 3                                      # groups of 3, 3 and a short last 2: 3 steps

# --- sharding -------------------------------------------------------------------------------------------------------

X, Y = torch.arange(22).float()[:, None], torch.arange(22)


def ys(loader): return torch.cat([y for _, y in loader])


def test_shards_are_disjoint_equal_and_follow_distributed_sampler():
    ls = [ShardedLoader(X, Y, 4, rank=r, world_size=3, seed=5) for r in range(3)]
    assert [len(l) for l in ls] == [2, 2, 2]                                               # 22 → 8 per rank (padded)
    got = [ys(l) for l in ls]
    assert set(torch.cat(got).tolist()) == set(range(22)) and len(torch.cat(got)) == 24
    for r in range(3): assert got[r].tolist() == list(DistributedSampler(range(22), 3, r, seed=5))


def test_union_of_rank_batches_is_the_single_process_batch():
    ls = [ShardedLoader(X[:20], Y[:20], 5, rank=r, world_size=2, seed=1) for r in range(2)]
    single = ShardedLoader(X[:20], Y[:20], 10, rank=0, world_size=1, seed=1)
    for (_, a), (_, b), (_, g) in zip(*ls, single): assert sorted(torch.cat([a, b]).tolist()) == sorted(g.tolist())


def test_set_epoch_reshuffles_consistently():
    a, b = ShardedLoader(X, Y, 4, rank=0, world_size=2), ShardedLoader(X, Y, 4, rank=1, world_size=2)
    e0 = ys(a)
    assert torch.equal(ys(a), e0)                                                          # no set_epoch: same order
    a.set_epoch(1); b.set_epoch(1)
    e1a, e1b = ys(a), ys(b)
    assert not torch.equal(e1a, e0)
    assert set(e1a.tolist()).isdisjoint(e1b.tolist())                                      # still disjoint in epoch 1


def test_unpadded_partition_and_transform():
    ls = [ShardedLoader(X[:7], Y[:7], 2, rank=r, world_size=3, shuffle=False, pad=False, transform=lambda x: -x) for r in range(3)]
    assert [len(l) for l in ls] == [2, 1, 1]
    assert sorted(torch.cat([ys(l) for l in ls]).tolist()) == list(range(7))
    assert (next(iter(ls[0]))[0] <= 0).all()


def test_sharded_loader_bad_input():
    with pytest.raises(ValueError, match="differ in length"): ShardedLoader(X, Y[:3], 4)
    with pytest.raises(ValueError, match="no samples"): ShardedLoader(X[:0], Y[:0], 4)
    with pytest.raises(ValueError, match="batch_size must be"): ShardedLoader(X, Y, 0)
    with pytest.raises(ValueError, match="rank must be"): ShardedLoader(X, Y, 4, rank=2, world_size=2)
    with pytest.raises(ValueError, match="world_size must be"): ShardedLoader(X, Y, 4, rank=0, world_size=0)


def test_distributed_loader_has_set_epoch():
    dl = distributed_loader(TensorDataset(X, Y), 4, rank=1, world_size=2, seed=3)
    assert len(dl) == 3
    dl.set_epoch(2)
    s = DistributedSampler(range(22), 2, 1, seed=3); s.set_epoch(2)
    assert torch.cat([y for _, y in dl]).tolist() == list(s)


# --- launch command lines -------------------------------------------------------------------------------------------

def test_torchrun_commands():
    assert torchrun_command(["train"], 4) == ["torchrun", "--standalone", "--nproc_per_node=4", "-m", "gpuvision_nb.distributed", "train"]
    static = torchrun_command(["train"], 8, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=1234)
    assert static[1:6] == ["--nnodes=2", "--nproc_per_node=8", "--node_rank=1", "--master_addr=10.0.0.1", "--master_port=1234"]
    rdzv = torchrun_command([], 8, nnodes=2, rdzv_endpoint="h:29400", rdzv_id="job")
    assert "--rdzv_backend=c10d" in rdzv and "--rdzv_endpoint=h:29400" in rdzv and "--rdzv_id=job" in rdzv
    with pytest.raises(ValueError, match="needs master_addr"): torchrun_command([], nnodes=2)
    with pytest.raises(ValueError, match="node_rank must be"): torchrun_command([], nnodes=2, master_addr="h", node_rank=5)
    with pytest.raises(ValueError, match="nproc_per_node must be"): torchrun_command([], nproc_per_node=0)


def test_main_reports_errors_in_one_line(capsys):
    from gpuvision_nb.distributed import ddp_main
    with mock.patch.dict(os.environ, {}, clear=True):
        assert ddp_main(["allreduce", "--device", "cpu"]) == 2
        assert ddp_main(["train", "--model", "tiny", "--images", "0", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "needs a process group: launch it with torchrun" in err[0] and "n must be an int >= 1" in err[1]


def test_bad_model_name():
    with pytest.raises(SystemExit): build_parser().parse_args(["train", "--model", "vgg"])
    with pytest.raises(ValueError, match="model must be one of"): ddp_train("vgg", device="cpu")


def test_synthetic_images():
    x, y = synthetic_images(50, seed=1)
    assert x.shape == (50, 3, 32, 32) and y.shape == (50,) and int(y.max()) < 10
    assert torch.equal(synthetic_images(50, seed=1)[0], x)
    with pytest.raises(ValueError, match="n must be"): synthetic_images(0)


# --- find_batch_size with injected OOM --------------------------------------------------------------------------------

def fake_gpu(limit, calls=None):
    def step(n):
        if calls is not None: calls.append(n)
        if n > limit: raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate for {n}")
    return step


TINY_NET = SeedCNN(widths=(4, 4, 8), hidden=8)


@pytest.mark.parametrize("limit,start,cap,mult,expected", [
    (1003, 32, 8192, 8, 1000), (100, 256, 8192, 8, 96), (10**6, 32, 300, 8, 300), (5, 4, 8192, 1, 5),
    (31, 32, 8192, 8, 24), (7, 32, 8192, 8, 7), (10**6, 16, 16, 8, 16)])
def test_find_batch_size_backs_off(limit, start, cap, mult, expected):
    assert find_batch_size(TINY_NET, None, "cpu", start=start, max_batch=cap, multiple_of=mult, step=fake_gpu(limit)) == expected


def test_find_batch_size_log_and_no_retry_of_known_sizes():
    log, calls = [], []
    assert find_batch_size(TINY_NET, None, "cpu", start=32, step=fake_gpu(1003, calls), log=log) == 1000
    assert [n for n, _ in log] == calls and len(set(calls)) == len(calls)
    assert log[:6] == [(32, True), (64, True), (128, True), (256, True), (512, True), (1024, False)]


def test_find_batch_size_frees_memory_after_oom():
    net = SeedCNN(widths=(4, 4, 8), hidden=8)
    def step(n):                                               # a real backward, then an OOM above 16
        x, y = synthetic_images(min(n, 4))
        F.cross_entropy(net(x), y).backward()
        if n > 16: raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        net.zero_grad(set_to_none=True)
    assert find_batch_size(net, None, "cpu", start=8, step=step) == 16
    assert all(p.grad is None for p in net.parameters())        # the failed tries' gradients were dropped
    assert net.training


def test_free_memory_on_cuda_collects_and_empties_the_cache():
    net = SeedCNN(widths=(4, 4, 8), hidden=8)
    F.cross_entropy(net(synthetic_images(2)[0]), torch.zeros(2, dtype=torch.long)).backward()
    with mock.patch("gpuvision_nb.distributed.gc.collect") as collect, mock.patch("torch.cuda.empty_cache") as empty:
        free_memory(net, "cpu")
        assert not collect.called and not empty.called
        free_memory(net, "cuda")
        assert collect.called and empty.called
    assert all(p.grad is None for p in net.parameters())


def test_find_batch_size_errors():
    with pytest.raises(RuntimeError, match="even a batch of 1"): find_batch_size(TINY_NET, None, "cpu", step=fake_gpu(0))
    def broken(n): raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")
    with pytest.raises(RuntimeError, match="shapes cannot"): find_batch_size(TINY_NET, None, "cpu", step=broken)
    with pytest.raises(ValueError, match="larger than max_batch"): find_batch_size(TINY_NET, None, "cpu", start=64, max_batch=32)
    with pytest.raises(ValueError, match="start must be"): find_batch_size(TINY_NET, None, "cpu", start=0)
    with pytest.raises(ValueError, match="multiple_of must be"): find_batch_size(TINY_NET, None, "cpu", multiple_of=True)


def test_find_batch_size_default_probe_keeps_weights_and_mode():
    net = SeedCNN(widths=(4, 4, 8), hidden=8).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    make = lambda n: synthetic_images(n)
    assert find_batch_size(net, make, "cpu", start=4, max_batch=16) == 16
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert not net.training and all(p.grad is None for p in net.parameters())


def test_is_oom():
    assert is_oom(torch.cuda.OutOfMemoryError("x"))
    assert is_oom(RuntimeError("MPS backend out of memory"))
    assert not is_oom(RuntimeError("size mismatch")) and not is_oom(ValueError("out of memory"))


# --- accumulation to the target batch ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target,fits,w,expected", [
    (512, 200, 1, (128, 4)), (512, 512, 1, (512, 1)), (512, 10**4, 1, (512, 1)), (96, 40, 1, (32, 3)),
    (1024, 100, 4, (64, 4)), (100, 30, 2, (25, 2)), (97, 10, 1, (1, 97)), (8, 1, 8, (1, 1))])
def test_accumulation_for(target, fits, w, expected):
    b, k = accumulation_for(target, fits, w)
    assert (b, k) == expected and b * k * w == target and b <= fits


def test_accumulation_for_bad_input():
    with pytest.raises(ValueError, match="not divisible by world_size"): accumulation_for(100, 10, 3)
    for bad in ((0, 10), (10, 0), (10, 2, 0), (True, 2), (10.0, 2)):
        with pytest.raises(ValueError, match="must be an int >= 1"): accumulation_for(*bad)


def test_found_batch_plus_accumulation_reaches_the_target_update():
    x, y = synthetic_images(192, seed=3)
    b, k = accumulation_for(96, find_batch_size(TINY_NET, None, "cpu", start=8, step=fake_gpu(40)))
    assert (b, k) == (32, 3)

    def trained(batch, accumulate):                     # float64: the kernels' batch-dependent rounding is ~1e-16 there
        set_seed(0); m = SeedCNN(widths=(4, 4, 8), hidden=8).double()
        fit(m, ShardedLoader(x.double(), y, batch, rank=0, world_size=1), epochs=1, lr=0.05, schedule="constant",
            device="cpu", accumulate=accumulate, progress=False)
        return m
    for p, q in zip(trained(96, 1).parameters(), trained(b, k).parameters()): torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_cudnn_benchmark_context_restores():
    old = torch.backends.cudnn.benchmark
    with pytest.raises(KeyError):
        with cudnn_benchmark(not old):
            assert torch.backends.cudnn.benchmark is (not old)
            raise KeyError
    assert torch.backends.cudnn.benchmark is old


# --- gpuvision train under torchrun (issue 12) ---------------------------------------------------------------------

def test_sharded_gpu_loader_partitions_batches_and_reshuffles():
    from gpuvision_nb.data import GPULoader
    from gpuvision_nb.distributed import ShardedGPULoader
    x, y = torch.randint(0, 256, (11, 1, 4, 4), dtype=torch.uint8), torch.arange(11)
    full = GPULoader(x, y, batch_size=2, shuffle=True, augment="none", device="cpu", mean=(0.5,), std=(0.25,))
    train = [ShardedGPULoader(full, rank=r, world_size=2) for r in range(2)]
    val = [ShardedGPULoader(full, rank=r, world_size=2, pad=False) for r in range(2)]
    assert [len(t) for t in train] == [3, 3] and sum(len(torch.cat([b for _, b in v])) for v in val) == 11
    got = [torch.cat([b for _, b in t]) for t in train]
    assert set(torch.cat(got).tolist()) == set(range(11)) and len(torch.cat(got)) == 12          # padded to equal shards
    assert sorted(torch.cat([torch.cat([b for _, b in v]) for v in val]).tolist()) == list(range(11))
    xb, yb = next(iter(train[0]))
    torch.testing.assert_close(xb, (x[yb].float() / 255 - 0.5) / 0.25)                          # the loader's normalisation
    for t in train: t.set_epoch(1)
    assert not torch.equal(torch.cat([b for _, b in train[0]]), got[0])
    flips = ShardedGPULoader(GPULoader(x, y, batch_size=11, shuffle=False, augment="flip", device="cpu", mean=(0.5,), std=(0.25,)),
                             rank=0, world_size=1)
    images = []
    for e in (0, 1):
        flips.set_epoch(e); images.append(next(iter(flips))[0])
    assert not torch.equal(*images)                                # each epoch its own augmentation


def _tiny_images(root, per_class=12):
    from PIL import Image
    for k, c in enumerate("ab"):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.new("RGB", (16, 16), (200 * k, 40 + 3 * i, 100)).save(root / c / f"{i}.png")
    return root


CLI_FAST = ["--model", "seed", "--size", "16", "--batch-size", "4", "--val-frac", "0.25", "--test-frac", "0.25",
            "--device", "cpu", "--no-progress"]


def test_gpuvision_train_on_two_gloo_processes_then_resumed(tmp_path):
    import json
    data, out = _tiny_images(tmp_path / "data"), tmp_path / "run"
    log = launch(["train", "--data", data, "--epochs", "1", "--out", out, *CLI_FAST], nproc_per_node=2, module="gpuvision_nb.cli", timeout=300)
    assert "2 processes × 2 images = global batch 4 (--batch-size): 3 updates per epoch" in log
    m = json.loads((out / "metrics.json").read_text())
    assert (m["world_size"], m["epochs"]) == (2, 1)
    assert m["history"][0]["images"] == 6                     # each rank trained on its half of the 12 training images
    from gpuvision_nb.runs import run_training               # issue 22.1: the same updates as one process, the batch global
    one = run_training(str(data), epochs=1, out=tmp_path / "one", model="seed", size=16, batch_size=4, val_frac=0.25,
                       test_frac=0.25, device="cpu", progress=False)
    assert (m["updates"], m["global_batch"], m["batch_per_process"]) == (one["updates"], 4, 2) and one["updates"] == 3
    log = launch(["train", "--out", out, "--resume", "--epochs", "2", "--device", "cpu", "--no-progress"],
                 nproc_per_node=2, module="gpuvision_nb.cli", timeout=300)
    assert log.count("wrote") == 1                            # rank 0 alone reports (and writes)
    m = json.loads((out / "metrics.json").read_text())
    assert (m["world_size"], m["epochs"], [h["epoch"] for h in m["history"]]) == (2, 2, [1, 2])


def test_gpuvision_train_on_two_nodes_with_a_static_rendezvous(tmp_path):
    "Each node's torchrun keeps its logs in the folder given (log_dir=), so it leaves no torchelastic_* folder behind."
    import json
    data, out, port, tmp = _tiny_images(tmp_path / "data"), tmp_path / "run", free_port(), tmp_path / "tmp"
    tmp.mkdir()
    args = ["train", "--data", data, "--epochs", "1", "--out", out, *CLI_FAST]
    nodes = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run",
                               *torchrun_command(args, 1, nnodes=2, node_rank=r, master_addr="127.0.0.1", master_port=port,
                                                 module="gpuvision_nb.cli", launcher=(), log_dir=tmp_path / "logs" / str(r))],
                              env={**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(tmp)},     # torchrun's default log dir would be here
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(2)]
    logs = [n.communicate(timeout=300)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], logs
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
    assert not list(tmp.glob("torchelastic_*"))


def test_nproc_shortcut_and_its_errors(tmp_path):
    import json
    data, out = _tiny_images(tmp_path / "data"), tmp_path / "run"
    exe = os.path.join(os.path.dirname(sys.executable), "gpuvision")
    r = subprocess.run([exe, "train", "--nproc", "2", "--data", str(data), "--epochs", "1", "--out", str(out), *CLI_FAST],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "metrics.json").read_text())["world_size"] == 2
    r = subprocess.run([exe, "train", "--nproc=2", "--data", str(data), "--epochs", "1", "--out", str(out), *CLI_FAST],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 2 and "already holds a run" in r.stderr and "processes failed" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("n, batch", [(24, 8), (25, 8), (13, 4), (101, 12)])
def test_shard_data_keeps_the_global_batch_so_any_world_size_makes_the_same_updates(n, batch):
    "Issue 22.1: the batch is global; each of w processes takes batch // w of it, so an epoch has the same updates."
    import dataclasses
    from gpuvision_nb.data import GPULoader
    from gpuvision_nb.folderdata import FolderData
    from gpuvision_nb.distributed import shard_data
    x, y = torch.zeros(n, 1, 4, 4, dtype=torch.uint8), torch.arange(n) % 2
    loader = lambda: GPULoader(x, y, batch_size=batch, shuffle=True, augment="none", device="cpu", mean=(0.5,), std=(0.25,))
    fd = FolderData(loader(), loader(), None, ["a", "b"], 4, 1, (0.5,), (0.25,), "flat", {})
    for w in (1, 2, 4):
        shards = [shard_data(fd, r, w) for r in range(w)]
        assert {len(s.train) for s in shards} == {len(fd.train)}            # updates per epoch: as in one process
        steps = [[len(yb) for _, yb in s.train] for s in shards]
        assert all(b == batch // w for s in steps for b in s[:-1])          # each process: its share of the global batch
        assert sum(s[0] for s in steps) == batch // w * w
        assert dataclasses.asdict(shards[0])["classes"] == ["a", "b"]
        val = [sum(len(yb) for _, yb in s.val) for s in shards]              # validation: every image once, no padding
        assert sum(val) == n, (w, val)
    with pytest.raises(ValueError, match="smaller than the 4 processes"): shard_data(dataclasses.replace(fd, train=GPULoader(
        x, y, batch_size=3, device="cpu", mean=(0.5,), std=(0.25,))), 0, 4)


KILL_RANK_1 = '''
import os
if os.environ.get("RANK") == "1" and os.environ.get("GPUVISION_NPROC_WORKER"):
    import signal, torch
    _backward, _calls = torch.autograd.backward, [0]
    def backward(*a, **k):
        _calls[0] += 1
        if _calls[0] == 3: os.kill(os.getpid(), signal.SIGKILL)     # rank 1 dies inside training, at a chosen step
        return _backward(*a, **k)
    torch.autograd.backward = backward
'''


def test_a_rank_killed_under_nproc_leaves_one_line_per_process_not_a_gloo_traceback(tmp_path):
    "Issue 21.6: rank 1 is SIGKILLed at its 3rd backward (a sitecustomize hook, no timing); rank 0 is mid all-reduce."
    data, out, hook = _tiny_images(tmp_path / "data"), tmp_path / "run", tmp_path / "hook"
    hook.mkdir(); (hook / "sitecustomize.py").write_text(KILL_RANK_1)
    exe = os.path.join(os.path.dirname(sys.executable), "gpuvision")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([exe, "train", "--nproc", "2", "--data", str(data), "--epochs", "3", "--out", str(out), *CLI_FAST],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "rank 1 was killed by signal SIGKILL" in r.stderr, r.stderr
    assert "gpuvision: rank 0: lost contact with another process" in r.stderr or "rank 0 was killed by signal SIGTERM" in r.stderr, r.stderr
    assert len([l for l in r.stderr.splitlines() if l.strip()]) <= 6, r.stderr


def test_failure_summary_and_lost_peer():
    from types import SimpleNamespace as NS
    from gpuvision_nb.distributed import failure_summary, lost_peer
    f = {0: NS(exitcode=3, signal_name=lambda: ""), 1: NS(exitcode=-9, signal_name=lambda: "SIGKILL")}
    assert failure_summary(f) == "rank 1 was killed by signal SIGKILL; rank 0 exited with code 3"
    f = {0: NS(exitcode=143, signal_name=lambda: ""), 1: NS(exitcode=-9, signal_name=lambda: "SIGKILL"), 2: NS(exitcode=200)}
    assert failure_summary(f) == ("rank 1 was killed by signal SIGKILL; rank 0 was killed by signal SIGTERM (it cleaned up, "
                                  "exit code 143); rank 2 exited with code 200")      # 143 = 128 + SIGTERM; 200: no signal's
    assert lost_peer(RuntimeError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:1234"))
    assert lost_peer(dist.DistBackendError("x")) and not lost_peer(RuntimeError("shape mismatch")) and not lost_peer(ValueError("gloo"))


def test_cli_worker_turns_a_lost_peer_into_one_line(monkeypatch, capsys):
    import gpuvision_nb.cli as cli
    from gpuvision_nb.distributed import cli_worker
    monkeypatch.setenv("RANK", "0")
    def lost(argv): raise dist.DistBackendError("[gloo/transport/tcp/pair.cc:534] Connection closed by peer [::1]:5\nmore\nlines")
    monkeypatch.setattr(cli, "main", lost)
    assert cli_worker([]) == 3
    assert capsys.readouterr().err == ("gpuvision: rank 0: lost contact with another process, stopping "
                                       "([gloo/transport/tcp/pair.cc:534] Connection closed by peer [::1]:5)\n")
    def bug(argv): raise RuntimeError("shape mismatch")                # anything else is not hidden
    monkeypatch.setattr(cli, "main", bug)
    with pytest.raises(RuntimeError, match="shape mismatch"): cli_worker([])


# --- what the mutation run of distributed (tools/mutate.py distributed, seed 211) found untested -----------------------

def test_plot_ddp_draws_one_lane_per_rank():
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gpuvision_nb.distributed import plot_ddp
    ax = plot_ddp(3)
    texts = {t.get_text(): t.get_position() for t in ax.texts}
    assert [texts[f"shard {r}"] for r in range(3)] == [(.6, 2.5), (.6, 1.5), (.6, .5)]       # rank 0 on top
    assert [texts[f"rank {r}"] for r in range(3)] == [(-.1, 2.5), (-.1, 1.5), (-.1, .5)]
    assert texts["all-reduce\n(average the\ngradients)"] == (5.1, 1.5)
    lanes = [(p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in ax.patches[:3]]
    assert lanes == [(0, 2.15, 1.2, .7), (1.6, 2.15, 2.2, .7), (6.4, 2.15, 1.2, .7)]          # shard, fwd+bwd, step of rank 0
    assert len(ax.patches) == 3 * 3 + 1 and (ax.get_xlim(), ax.get_ylim()) == ((-1, 8), (0, 3)) and not ax.axison
    band = ax.patches[-1]                                  # the all-reduce band across every rank: translucent, behind the text
    assert (band.get_x(), band.get_width(), band.get_height(), band.get_alpha()) == (4.1, 2.0, 3 - .2, .3)   # (mutmut, seed 932)
    assert ax.get_title() == "one DDP step on 3 processes: same weights everywhere, 3× the images per step"
    assert ax.figure.get_size_inches() == pytest.approx((10, 0.9 + 0.55 * 3))
    plt.close("all")


def test_ring_allreduce_and_expected_efficiency():
    from gpuvision_nb.distributed import expected_efficiency, ring_allreduce_bytes
    assert ring_allreduce_bytes(1000, 4) == 2 * 3 / 4 * 1000 * 4 and ring_allreduce_bytes(1000, 4, 2) == 3000
    assert expected_efficiency(0.1, 1000, 1, 1e9) == 1.0
    comm = ring_allreduce_bytes(10**6, 8) / 1e9 + 2 * 7 * 1e-5
    assert expected_efficiency(0.01, 10**6, 8, 1e9, latency=1e-5) == pytest.approx(0.01 / (0.01 + comm))
    assert expected_efficiency(0.01, 10**6, 8, 1e9, overlap=1.0) == 1.0


def test_plot_scaling_lines_marks_and_labels():
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gpuvision_nb.distributed import expected_efficiency, plot_scaling
    ax = plot_scaling(2_500_000, {"PCIe": 32e9, "NVLink": 450e9}, marks={"seed CNN": 0.004}, world_size=4)
    curves = [l for l in ax.get_lines() if not l.get_label().startswith("_")]
    assert [l.get_label() for l in curves] == ["PCIe (32 GB/s)", "NVLink (450 GB/s)"]
    x, y = curves[0].get_xdata(), curves[0].get_ydata()
    assert len(x) == 200 and x[0] == pytest.approx(1e-4) and x[-1] == pytest.approx(10)
    assert y[57] == pytest.approx(expected_efficiency(x[57], 2_500_000, 4, 32e9))
    [mark] = [l for l in ax.get_lines() if l.get_label().startswith("_")]
    assert list(mark.get_xdata()) == [0.004, 0.004] and mark.get_linewidth() == 1 and mark.get_linestyle() == ":"
    assert [t.get_text() for t in ax.texts] == [" seed CNN"]
    assert (ax.get_xscale(), ax.get_ylim(), ax.get_xlabel(), ax.get_ylabel()) == \
        ("log", (0, 1.15), "compute time per step (s)", "scaling efficiency")
    assert ax.get_title() == "2.5M fp32 gradients, ring all-reduce, W=4, no overlap"
    plt.close("all")


def test_time_cudnn_benchmark_needs_cuda():
    from gpuvision_nb.distributed import time_cudnn_benchmark
    with pytest.raises(ValueError, match=r"^time_cudnn_benchmark needs a CUDA device \(cuDNN\), got cpu$"):
        time_cudnn_benchmark(device="cpu", batch_size=2, min_run_time=0.001)   # small: quick if it ran anyway


def test_an_out_folder_that_cant_be_made_is_named(tmp_path):
    from gpuvision_nb.files import WriteError
    from gpuvision_nb.distributed import _write_results
    f = tmp_path / "file"; f.write_text("x")
    with pytest.raises(WriteError, match=rf"^can't create --out folder {f / 'sub'}: "):
        _write_results(f / "sub", {"a.json": "{}"})


# --- torchrun's log folder: a temporary one of ours, removed, not a /tmp/torchelastic_* left by every launch ----------

def test_torchrun_command_passes_a_log_dir_before_the_module():
    cmd = torchrun_command(["train"], 2, log_dir="/x/logs")
    assert cmd == ["torchrun", "--standalone", "--nproc_per_node=2", "--log-dir=/x/logs", "-m", "gpuvision_nb.distributed", "train"]


def test_launch_gives_torchrun_a_log_dir_that_is_gone_afterwards(monkeypatch):
    "Chapter 13's launches left one /tmp/torchelastic_* folder each (torchrun's default log dir, never removed)."
    from pathlib import Path
    import gpuvision_nb.distributed as D
    seen = []
    def run(cmd, **kw):
        logs = Path(next(a for a in cmd if a.startswith("--log-dir=")).split("=", 1)[1])
        seen.append((logs, logs.is_dir()))
        return subprocess.CompletedProcess(cmd, 0, "ok", "")
    monkeypatch.setattr(D.subprocess, "run", run)
    assert launch(["train"], nproc_per_node=2) == "ok"
    (logs, existed), = seen
    assert existed and not logs.exists() and logs.name.startswith("gpuvision-torchrun-")


def test_gpuvision_nproc_gives_torchrun_a_log_dir_that_is_gone_afterwards(monkeypatch):
    from pathlib import Path
    import torch.distributed.run as R
    from gpuvision_nb.distributed import run_nproc
    seen = []
    monkeypatch.setenv("OMP_NUM_THREADS", "1")                    # (run_nproc sets it when unset)
    monkeypatch.setattr(R, "run", lambda args: seen.append((Path(args.log_dir), Path(args.log_dir).is_dir(), args.training_script_args)))
    assert run_nproc(2, ["train", "--nproc", "2", "--epochs", "1"]) == 0
    assert run_nproc(2, ["train", "--nproc=2", "--epochs", "1"]) == 0
    for logs, existed, script_args in seen:
        assert existed and not logs.exists()
        assert script_args == ["train", "--epochs", "1"]             # --nproc, in either form, is not passed on


# --- what the mutation run of distributed (seed 223, 54 %) left untested ------------------------------------------------

def test_torchrun_command_names_the_node_rank_range():
    with pytest.raises(ValueError, match=r"^node_rank must be in 0\.\.1, got 5$"):
        torchrun_command([], nnodes=2, master_addr="h", node_rank=5)


def test_ddp_allreduce_times_its_iterations_writes_rank_0s_json_and_always_leaves_the_group(tmp_path, monkeypatch, capsys):
    import json
    import gpuvision_nb.distributed as D
    calls = []
    monkeypatch.setattr(D, "setup_distributed", lambda device, backend: torch.device("cpu"))
    monkeypatch.setattr(D, "cleanup_distributed", lambda: calls.append("cleanup"))
    monkeypatch.setattr(D, "allreduce_timing", lambda numel, dev, iters: calls.append((numel, iters)) or
                        D.Timing("all_reduce", "cpu", 0.5, 0.0, [0.5], numel * 4, "B"))
    t = D.ddp_allreduce(numel=1000, iters=7, device="cpu", out=tmp_path / "t.json")
    assert calls == [(1000, 7), "cleanup"] and t.median == 0.5 and "all_reduce" in capsys.readouterr().out
    assert json.loads((tmp_path / "t.json").read_text())["items"] == 4000
    monkeypatch.setattr(D, "allreduce_timing", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError): D.ddp_allreduce(device="cpu")
    assert calls[-1] == "cleanup"                                   # the process group is left even on an error


def test_ddp_train_passes_its_schedule_and_shows_progress_only_when_asked(monkeypatch):
    import gpuvision_nb.distributed as D
    from gpuvision_nb.train import History
    seen = []
    def fit(net, train, val, epochs, lr, **kw):
        seen.append(kw)
        return History([{"epoch": 1, "images_per_second": 1.0, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}])
    monkeypatch.setattr(D, "fit", fit)
    D.ddp_train(n=8, batch_size=4, device="cpu")
    D.ddp_train(n=8, batch_size=4, device="cpu", schedule="cosine", progress=True, accumulate=2)
    assert [(k["schedule"], k["progress"], k["accumulate"]) for k in seen] == [("onecycle", False, 1), ("cosine", True, 2)]


def test_ddp_train_counts_every_process_and_rank_0_writes_the_metrics(tmp_path, monkeypatch):
    "As if launched on 2 processes (this one rank 0): images/s and the global batch are of all processes together."
    import json
    import gpuvision_nb.distributed as D
    from gpuvision_nb.train import History
    h = {"epoch": 1, "images_per_second": 3.0, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}
    monkeypatch.setattr(D, "fit", lambda *a, **k: History([h]))
    monkeypatch.setattr(D, "world_size", lambda: 2)
    m = D.ddp_train(n=8, batch_size=4, device="cpu", out=tmp_path / "run")
    assert (m["images_per_second"], m["global_batch"]) == ([6.0], 8)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["images_per_second"] == [6.0]
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_the_module_help_names_its_commands(capsys):
    with pytest.raises(SystemExit): build_parser().parse_args(["--help"])
    assert "train on synthetic images with DDP" in capsys.readouterr().out


# --- what the mutation run of distributed (seed 302, 74 %) left untested ------------------------------------------------

def test_allreduce_timing_counts_the_bytes_it_reduces():
    "In a 1-process gloo group: the timing's work is 4 bytes per fp32 value, so it has a rate in B/s."
    from gpuvision_nb.distributed import allreduce_timing
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    with mock.patch.dict(os.environ, env):
        dev = setup_distributed("cpu")
        try: t = allreduce_timing(1000, dev, iters=2, warmup=1)
        finally: cleanup_distributed()
    assert (t.items, t.unit, len(t.times), t.params) == (4000, "B", 2, {"numel": 1000, "world_size": 1, "backend": "gloo"})
    assert t.rate is not None and t.label == "all_reduce 0.0 MB × 1 ranks"


def test_the_module_parsers_defaults():
    a = vars(build_parser().parse_args(["allreduce"]))
    assert a == {"command": "allreduce", "numel": 4_300_000, "iters": 10, "device": "auto", "backend": "auto", "out": None}
    assert vars(build_parser().parse_args(["train"]))["backend"] == "auto"


def test_ddp_device_gives_each_local_rank_its_own_gpu_for_auto_or_cuda_only(monkeypatch):
    "With CUDA there (stubbed): 'auto' and 'cuda' name cuda:LOCAL_RANK; an explicit device is kept as asked."
    import gpuvision_nb.distributed as D
    asked = []
    monkeypatch.setattr(D.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(D, "get_device", lambda d: asked.append(d) or d)
    monkeypatch.delenv("GPUVISION_DEVICE", raising=False)
    for spec in ("auto", "CUDA", "cpu", "cuda:0"): D.ddp_device(spec, local_rank=3)
    assert asked == ["cuda:3", "cuda:3", "cpu", "cuda:0"]


def test_find_batch_size_moves_the_model_to_the_device_and_frees_memory_after_each_failure(monkeypatch):
    "The default probe runs the model on `device`; free_memory runs once per try that ran out of memory, and once at the end."
    import gpuvision_nb.distributed as D
    moved, freed = [], []
    net = SeedCNN(widths=(4, 4, 8), hidden=8)
    real_to = net.to
    monkeypatch.setattr(net, "to", lambda *a, **k: moved.append(a) or real_to(*a, **k))
    assert find_batch_size(net, lambda n: synthetic_images(n), "cpu", start=2, max_batch=2) == 2
    assert moved == [(torch.device("cpu"),)]
    monkeypatch.setattr(D, "free_memory", lambda model, dev: freed.append(dev))
    log = []
    assert find_batch_size(TINY_NET, None, "cpu", start=32, step=fake_gpu(1003), log=log) == 1000
    assert len(freed) == sum(not ok for _, ok in log) + 1 == 3             # 2 failures (1024, 1008) of 12 tries


def test_nproc_shares_the_cores_among_its_processes(monkeypatch):
    """Without OMP_NUM_THREADS set, each of nproc processes gets usable_cores // nproc threads (at least 1): the cores
    this process may use, not the machine's (os.cpu_count(): 128 threads per process in a 2-core container of a big host)."""
    import torch.distributed.run as R
    import gpuvision_nb.distributed as D
    seen = []
    monkeypatch.setattr(R, "run", lambda args: seen.append(os.environ["OMP_NUM_THREADS"]))
    monkeypatch.setattr(D, "usable_cores", lambda: 8)
    monkeypatch.setattr(D.os, "cpu_count", lambda: 256)
    for nproc in (2, 16):
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert D.run_nproc(nproc, ["train"]) == 0
    assert seen == ["4", "1"]


# --- what the unseen sample of distributed (seed 402, 63 %, after the seed-302 tests) left untested --------------------

def test_the_train_parsers_defaults_and_the_modules_description(capsys):
    a = vars(build_parser().parse_args(["train"]))
    assert a == {"command": "train", "model": "seed", "n": 1024, "batch_size": 64, "epochs": 1, "lr": 0.05,
                 "schedule": "onecycle", "accumulate": 1, "sync_bn": False, "progress": False, "simulate": 1,
                 "device": "auto", "backend": "auto", "out": None, "seed": 0}
    with pytest.raises(SystemExit): build_parser().parse_args(["--help"])
    assert "DDP training and all-reduce timing; launch with torchrun." in capsys.readouterr().out


def test_ddp_train_validates_on_other_images_than_it_trains_on(monkeypatch):
    import gpuvision_nb.distributed as D
    from gpuvision_nb.train import History
    seen = []
    def fit(net, train, val, epochs, lr, **kw):
        seen.append((train.x, val.x))
        return History([{"epoch": 1, "images_per_second": 1.0, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}])
    monkeypatch.setattr(D, "fit", fit)
    D.ddp_train(n=8, batch_size=4, device="cpu", seed=5)
    (tx, vx), = seen
    assert torch.equal(tx, synthetic_images(8, seed=5)[0]) and torch.equal(vx, synthetic_images(2, seed=6)[0])   # seed + 1


def test_launch_runs_the_asked_number_of_processes(monkeypatch):
    import gpuvision_nb.distributed as D
    seen = []
    monkeypatch.setattr(D.subprocess, "run", lambda cmd, **kw: seen.append(cmd) or subprocess.CompletedProcess(cmd, 0, "ok", ""))
    launch(["train"], nproc_per_node=3)
    assert "--nproc_per_node=3" in seen[0]


def test_pick_backend_for_a_cuda_device(monkeypatch):
    "A CUDA device (no GPU needed to name one) gets NCCL, and a build without NCCL is said so."
    monkeypatch.setattr(dist, "is_nccl_available", lambda: True)
    assert pick_backend(torch.device("cuda:0")) == "nccl"
    monkeypatch.setattr(dist, "is_nccl_available", lambda: False)
    monkeypatch.setattr(dist, "is_gloo_available", lambda: True)
    with pytest.raises(RuntimeError, match="this torch build has no nccl backend"): pick_backend(torch.device("cuda:0"))


def test_messages_name_nnodes_and_interleaved():
    with pytest.raises(ValueError, match=r"^nnodes must be an int >= 1, got 0$"): torchrun_command([], nnodes=0)
    with pytest.raises(ValueError, match=r"^Interleaved: needs loaders of equal, non-zero length$"): Interleaved([])


def test_plot_ddp_labels_its_shards_in_9_point_type():
    import matplotlib; matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gpuvision_nb.distributed import plot_ddp
    ax = plot_ddp(2)
    assert {t.get_fontsize() for t in ax.texts if t.get_text().startswith(("shard", "rank"))} == {9}
    plt.close("all")


# --- what the unseen sample of distributed (tools/mutate.py distributed --sample 25 --seed 910) left untested -----------

def test_setup_distributed_passes_its_timeout_to_the_process_group(monkeypatch):
    "timeout_s=5: a peer that never joins fails the group after 5 s, not torch's default (init_process_group stubbed)."
    import datetime
    import gpuvision_nb.distributed as D
    seen = []
    monkeypatch.setattr(D.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(D.dist, "init_process_group", lambda backend, **kw: seen.append((backend, kw)))
    with mock.patch.dict(os.environ, {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}):
        assert D.setup_distributed("cpu", timeout_s=5) == torch.device("cpu")
    assert seen == [("gloo", {"rank": 1, "world_size": 2, "timeout": datetime.timedelta(seconds=5)})]


def test_ddp_train_alone_shuffles_by_its_seed(monkeypatch):
    "One process (simulate=1): the training batches come in the order seed 5 gives ShardedLoader (fit stubbed)."
    import gpuvision_nb.distributed as D
    from gpuvision_nb.train import History
    seen = []
    def fit(net, train, val, epochs, lr, **kw):
        seen.append([yb for _, yb in train])
        return History([{"epoch": 1, "images_per_second": 1.0, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": 0.5}])
    monkeypatch.setattr(D, "fit", fit)
    D.ddp_train(n=16, batch_size=4, device="cpu", seed=5)
    x, y = synthetic_images(16, seed=5)
    want = [yb for _, yb in ShardedLoader(x, y, 4, seed=5)]
    assert len(seen[0]) == 4 and all(torch.equal(a, b) for a, b in zip(seen[0], want))


def test_ddp_allreduce_without_out_returns_the_timing_and_writes_nothing(tmp_path, monkeypatch, capsys):
    "In a 1-process gloo group: rank 0 prints the timing; with no --out there is no file to write, and no error."
    from gpuvision_nb.distributed import ddp_allreduce
    monkeypatch.chdir(tmp_path)
    env = {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())}
    with mock.patch.dict(os.environ, env):
        t = ddp_allreduce(numel=1000, iters=2, device="cpu")
    assert t.items == 4000 and "all_reduce" in capsys.readouterr().out and list(tmp_path.iterdir()) == []
    assert not is_distributed()


def test_gpuvision_nproc_runs_the_module_whose_main_is_the_cli_worker(monkeypatch):
    "torchrun (stubbed) is asked for `-m gpuvision_nb.distributed`, whose __main__ runs cli_worker under GPUVISION_NPROC_WORKER."
    import torch.distributed.run as R
    from gpuvision_nb.distributed import run_nproc
    from gpuvision_nb.supervisor import NPROC_WORKER
    seen = []
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(R, "run", lambda args: seen.append((args.module, args.training_script, os.environ.get(NPROC_WORKER))))
    assert run_nproc(2, ["train", "--epochs", "1"]) == 0
    assert seen == [(True, "gpuvision_nb.distributed", "1")]


def test_free_memory_empties_the_mps_cache_on_a_mac(monkeypatch):
    "free_memory on 'mps' (torch.mps stubbed): Apple's cached blocks are returned, as CUDA's are on a GPU."
    import gpuvision_nb.distributed as D
    emptied = []
    monkeypatch.setattr(D.torch.mps, "empty_cache", lambda: emptied.append("mps"))
    D.free_memory(device="mps")
    assert emptied == ["mps"]


def test_setup_distributed_alone_takes_the_device_it_is_given(monkeypatch, auto_is_unavailable):
    "mutmut (seed 932): without torchrun's variables, get_device(None) ('auto': GPUVISION_DEVICE, a GPU) survived."
    from gpuvision_nb.distributed import setup_distributed
    for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "TORCHELASTIC_RUN_ID"): monkeypatch.delenv(v, raising=False)
    assert setup_distributed("cpu") == torch.device("cpu")
