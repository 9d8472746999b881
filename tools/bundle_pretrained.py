"""Rebuild the pretrained models shipped inside the package (`gpuvision_nb/pretrained/`, see chapter 06): for each
name in `train.BUNDLED`, `pretrained(name)` on the CPU (from the cache, or trained now), then a copy of its cache
folder under the same key. Old shipped folders of that model are removed.

    python tools/bundle_pretrained.py        (about two minutes on a 2-core CPU when the cache is cold)"""
import shutil
from pathlib import Path

from gpuvision_nb.train import BUNDLED, _pretrained_dir, bundled_dir, pretrained

for name in BUNDLED:
    pretrained(name, device="cpu")
    dest = bundled_dir(name)
    for old in dest.parent.glob(f"{name}-*"): shutil.rmtree(old)
    shutil.copytree(_pretrained_dir(name), dest)
    for p in [dest, *dest.rglob("*")]: p.chmod(0o755 if p.is_dir() else 0o644)
    print(f"{name}: {dest} ({sum(p.stat().st_size for p in dest.rglob('*') if p.is_file()) / 2**20:.1f} MiB)")
