"""Rebuild the pretrained models shipped inside the package (`gpuvision_nb/pretrained/`, see chapters 06 and 12): each
of `train.BUNDLED`'s shapes classifiers and both of chapter 12's clip models (`video.VIDEO_ARCHS`) whose shipped copy
is missing or stale is made on the CPU (from the cache, or trained now), and its cache folder copied under the same
key; older shipped folders of that model are removed.

    python tools/bundle_pretrained.py        (about three minutes on a 2-core CPU when the cache is cold)"""
import shutil

from gpuvision_nb.checkpoint import latest_checkpoint
from gpuvision_nb.train import BUNDLED, _pretrained_dir, pretrained, shipped_copy
from gpuvision_nb.video import VIDEO_ARCHS, pretrained_video, pretrained_video_dir

models = [(name, _pretrained_dir(name), lambda name=name: pretrained(name, device="cpu")) for name in BUNDLED]
models += [(f"video-{arch}", pretrained_video_dir(arch), lambda arch=arch: pretrained_video(arch, device="cpu"))
           for arch in VIDEO_ARCHS]
for name, cache, make in models:
    dest = shipped_copy(cache)
    if latest_checkpoint(dest) is not None and latest_checkpoint(cache) is None:
        print(f"{name}: {dest} is current (today's key)"); continue     # make() would read it, not cache it
    make()                                                              # in the cache now (written 0644/0755)
    for old in dest.parent.glob(f"{name}-*"): shutil.rmtree(old)
    shutil.copytree(cache, dest)
    print(f"{name}: {dest} ({sum(p.stat().st_size for p in dest.rglob('*') if p.is_file()) / 2**20:.1f} MiB)")
