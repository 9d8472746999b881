"""Rebuild the pretrained models shipped inside the package (`gpuvision_nb/pretrained/`, see chapter 06): for each
name in `train.BUNDLED` whose shipped copy is missing or stale, `pretrained(name)` on the CPU (from the cache, or
trained now), then a copy of its cache folder under the same key; older shipped folders of that model are removed.

    python tools/bundle_pretrained.py        (about two minutes on a 2-core CPU when the cache is cold)"""
import shutil

from gpuvision_nb.checkpoint import latest_checkpoint
from gpuvision_nb.train import BUNDLED, _pretrained_dir, bundled_dir, pretrained

for name in BUNDLED:
    cache, dest = _pretrained_dir(name), bundled_dir(name)
    if latest_checkpoint(dest) is not None and latest_checkpoint(cache) is None:
        print(f"{name}: {dest} is current (today's recipe key)"); continue   # pretrained() would read it, not cache it
    pretrained(name, device="cpu")                                         # in the cache now (written 0644/0755)
    for old in dest.parent.glob(f"{name}-*"): shutil.rmtree(old)
    shutil.copytree(cache, dest)
    print(f"{name}: {dest} ({sum(p.stat().st_size for p in dest.rglob('*') if p.is_file()) / 2**20:.1f} MiB)")
