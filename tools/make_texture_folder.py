"""Make a real-photo texture/patch classification folder from the photos scikit-image's wheel ships (no download).

Why: to try `gpuvision train/predict` on a real folder the course does not ship (issue 22). The photos come from the
scikit-image 0.26.0 wheel (`pip download scikit-image==0.26.0 --no-deps -d /tmp/skw`, then
`unzip /tmp/skw/scikit_image-0.26.0-*.whl 'skimage/data/*' -d /tmp/skw/x`; not installed anywhere), read as grey (all six are mode 'L' files). Each class is one photo; a sample is a SIZE×SIZE crop at a random position
(numpy seed SEED). No test crop overlaps a train crop: each photo is cut into horizontal bands, rows [0, 60 %) for
train, [60 %, 75 %) for val, [75 %, 100 %) for test, and every crop lies wholly inside its band.

    python tools/make_texture_folder.py SKIMAGE_DATA_DIR OUT [--per-class 400] [--cut grass=0.1 ...] [--predict 5000 --predict-dir DIR]

writes OUT/train|val|test/<class>/NNNN.png (val and test get 1/5 and 3/8 of --per-class); `--cut CLASS=F` keeps
only the first F of CLASS's train crops (an imbalanced folder; val/test stay balanced); `--predict N` writes N more
test-band crops, round robin
over the classes (file i is CLASSES[i % 6]), to DIR/NNNNN.png (default OUT_predict; outside OUT so that OUT stays a
train/val/test folder), for timing `gpuvision predict`.
"""
import argparse
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["brick", "grass", "gravel", "moon", "cell", "coins"]
BANDS = {"train": (0.0, 0.60), "val": (0.60, 0.75), "test": (0.75, 1.0)}


def crops(img: np.ndarray, band, n: int, size: int, rng) -> list:
    "`n` random `size`×`size` crops of `img` lying wholly inside the row band (lo, hi) given as fractions of its height."
    h, w = img.shape
    top, bottom = int(band[0] * h), int(band[1] * h)
    if bottom - top < size: raise ValueError(f"band {band} of a {h}-row photo is thinner than --size {size}")
    ys, xs = rng.integers(top, bottom - size + 1, n), rng.integers(0, w - size + 1, n)
    return [img[y:y + size, x:x + size] for y, x in zip(ys, xs)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", type=Path, help="skimage/data of the unzipped wheel")
    p.add_argument("out", type=Path)
    p.add_argument("--per-class", type=int, default=400, help="train crops per class (default 400)")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cut", action="append", default=[], metavar="CLASS=F", help="keep the share F of CLASS's train crops")
    p.add_argument("--predict", type=int, default=0, help="N extra test-band crops in --predict-dir")
    p.add_argument("--predict-dir", type=Path, default=None)
    a = p.parse_args()
    cut = {k: float(v) for k, v in (c.split("=") for c in a.cut)}
    rng = np.random.default_rng(a.seed)
    counts = {"train": a.per_class, "val": a.per_class // 5, "test": a.per_class * 3 // 8}
    photos = {c: np.asarray(Image.open(a.data / f"{c}.png").convert("L")) for c in CLASSES}
    for c, img in photos.items():
        for split, band in BANDS.items():
            n = counts[split]
            patches = crops(img, band, n, a.size, rng)  # same draws with or without --cut
            if split == "train": patches = patches[:max(1, round(n * cut.get(c, 1.0)))]
            d = a.out / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i, x in enumerate(patches): Image.fromarray(x).save(d / f"{i:04d}.png")
    if a.predict:
        d = a.predict_dir or a.out.with_name(a.out.name + "_predict")
        d.mkdir(parents=True, exist_ok=True)
        for i in range(a.predict):
            c = CLASSES[i % len(CLASSES)]
            Image.fromarray(crops(photos[c], BANDS["test"], 1, a.size, rng)[0]).save(d / f"{i:05d}.png")
    print(f"wrote {a.out}: {len(CLASSES)} classes, {counts} per class, cut {cut or 'none'}, predict {a.predict}")


if __name__ == "__main__":
    main()
