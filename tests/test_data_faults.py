"""Fault injection for the data layer (issue 13, with issue 12's data items): symlink loops, files reached twice,
unreadable folders, arguments out of range, formats Pillow reads but the loader used to drop, file modes, misleading
messages. Each test failed on the code before the fix (checked by running this file against it); names are looked up
inside the tests so that one missing function fails one test, not the file."""
import contextlib
import io
import os
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gpuvision_nb.data as data
import gpuvision_nb.folderdata as folderdata
from gpuvision_nb.cli import main
from gpuvision_nb.imagefile import image_files


def png(path: Path, colour=(10, 200, 30), size=16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)
    return path


def pets(root: Path, n: int = 10) -> Path:
    "Two classes of `n` distinct images each."
    for i in range(n):
        png(root / "cat" / f"c{i}.png", (10 * i, 0, 0)); png(root / "dog" / f"d{i}.png", (0, 0, 10 * i))
    return root


def quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


def cli(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): status = main(list(map(str, args)))
    return status, out.getvalue(), err.getvalue()


# ---- symlink loops and files counted twice --------------------------------------------------------------------------

def test_directory_symlink_loop_is_not_followed(tmp_path):
    root = pets(tmp_path / "ds")
    (root / "cat" / "loop").symlink_to("..")                       # cat/loop/cat/loop/... and cat/loop/dog/...
    with pytest.warns(UserWarning, match="symlink"):
        ds = data.load_folder(root)
    assert len(ds) == 20 and [y for _, y in ds.samples].count(0) == 10
    assert any("loop" in p and "not followed" in why for p, why in ds.skipped)


def test_symlink_loop_cannot_leak_into_the_test_split(tmp_path):
    root = pets(tmp_path / "ds")
    (root / "dog" / "again").symlink_to(root)                      # an absolute link to the dataset itself
    fd = quiet(folderdata.folder_loaders, root, device="cpu", splits=(0.6, 0.2, 0.2))
    assert fd.fingerprint()["images"] == {"train": 12, "val": 4, "test": 4}
    flat = lambda loader: {tuple(x.flatten().tolist()) for x in loader.x}
    train = {tuple(x[:, 4:-4, 4:-4].flatten().tolist()) for x in fd.train.x}
    assert not train & flat(fd.test) and not train & flat(fd.val)


def test_a_link_above_the_dataset_is_not_followed(tmp_path):
    root = pets(tmp_path / "outer" / "ds")
    (root / "cat" / "up").symlink_to(tmp_path)                      # above the dataset: it contains the dataset
    assert len(quiet(data.load_folder, root)) == 20


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_the_same_file_is_counted_once(tmp_path, link):
    root = pets(tmp_path / "ds", 3)
    target, twin = root / "cat" / "c0.png", root / "dog" / "twin.png"
    twin.symlink_to(target) if link == "symlink" else os.link(target, twin)
    with pytest.warns(UserWarning, match="duplicate"):
        ds = data.load_folder(root)
    assert len(ds) == 6 and str(twin) not in [p for p, _ in ds.samples]
    assert (str(twin), f"the same file as {target} (a link): counted once") in ds.skipped


def test_a_file_in_two_presplit_folders_stays_in_train_only(tmp_path):
    root = tmp_path / "ds"
    pets(root / "train", 4); pets(root / "test", 2)
    os.link(root / "train" / "cat" / "c3.png", root / "test" / "cat" / "leak.png")
    fd = quiet(folderdata.folder_loaders, root, device="cpu", splits=(0.75, 0.25))
    assert fd.counts["test"] == {"cat": 2, "dog": 2}


# ---- unreadable folders and files -----------------------------------------------------------------------------------

@contextlib.contextmanager
def unreadable(folder: Path, monkeypatch):
    "`folder` without read permission — for root too, whom modes don't bind: os.scandir fails on it as for a user."
    real = os.scandir
    def scandir(p="."):
        if Path(p) == folder: raise PermissionError(13, "Permission denied", str(p))
        return real(p)
    folder.chmod(0)
    monkeypatch.setattr(os, "scandir", scandir)
    try: yield
    finally: monkeypatch.setattr(os, "scandir", real); folder.chmod(0o755)


def test_unreadable_class_folder_is_a_permission_problem(tmp_path, monkeypatch):
    root = pets(tmp_path / "ds")
    with unreadable(root / "dog", monkeypatch):
        with pytest.raises(data.DatasetError) as e: data.load_folder(root)
        assert "permission denied" in str(e.value) and str(root / "dog") in str(e.value)
        assert "no usable images" not in str(e.value)
        ds = quiet(data.load_folder, root, on_bad="skip")
        assert (str(root / "dog"), "can't be read: permission denied") in ds.skipped


def test_unreadable_image_file_says_permission(tmp_path, monkeypatch):
    f = png(tmp_path / "a.png")
    real_open = Image.open
    def no_access(p, *a, **k):
        if Path(p) == f: raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *a, **k)
    monkeypatch.setattr(Image, "open", no_access)
    with pytest.raises(data.BadImageError, match="permission denied"): data.open_rgb(f)


# ---- numbers checked before any work --------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, name", [({"size": 0}, "size"), ({"size": -3}, "size"), ({"size": 1.5}, "size"),
                                      ({"size": 10**6}, "size"), ({"min_size": 0}, "min_size"),
                                      ({"max_pixels": 0}, "max_pixels")])
def test_load_folder_checks_numbers_first(tmp_path, monkeypatch, kw, name):
    root = pets(tmp_path / "ds", 2)
    opened = []
    monkeypatch.setattr(data, "open_rgb", lambda *a, **k: opened.append(a) or Image.new("RGB", (8, 8)))
    with pytest.raises(ValueError, match=f"load_folder: {name} must be an int"): data.load_folder(root, **kw)
    assert opened == []                                            # nothing was read


@pytest.mark.parametrize("f, kw, name", [("make_shapes", {"size": 100_000}, "size"), ("make_shapes", {"n_per_class": 10**7}, "n_per_class"),
                                         ("make_shapes", {"seed": -1}, "seed"), ("make_digits", {"size": 4}, "size"),
                                         ("make_digits", {"size": 100_000}, "size")])
def test_generators_check_numbers_first(tmp_path, monkeypatch, f, kw, name):
    monkeypatch.setattr(data, "render_shape", lambda *a, **k: pytest.fail("drew an image"))
    with pytest.raises(ValueError, match=f"{f}: {name} must be an int"): getattr(data, f)(tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw, name", [({"padding": -1}, "padding"), ({"padding": 1.5}, "padding")])
def test_gpu_loader_checks_numbers(kw, name):
    x, y = torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match=f"GPULoader: {name} must be an int"): data.GPULoader(x, y, device="cpu", **kw)


def test_cli_data_size_is_refused_before_allocating(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "render_shape", lambda *a, **k: pytest.fail("drew an image"))
    status, out, err = cli("data", "shapes", "--out", tmp_path / "big", "--size", 100_000)
    assert status == 2 and "argument --size: must be an integer from 8 to 512" in err and "Traceback" not in err


# ---- messages that say what to do -----------------------------------------------------------------------------------

def test_bad_file_message_advises_what_the_cli_offers(tmp_path):
    root = pets(tmp_path / "ds", 2)
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(data.BadImageError) as e: data.load_folder(root)
    assert "--on-bad skip (CLI)" in str(e.value) and "on_bad='skip' (Python)" in str(e.value)


def test_cli_train_bad_file_message_names_the_cli_option(tmp_path):
    root = pets(tmp_path / "ds", 5)
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    status, _, err = cli("train", "--data", root, "--out", tmp_path / "run", "--epochs", 1, "--no-progress")
    assert status == 2 and "broken.png" in err and "--on-bad skip" in err and "Traceback" not in err


def test_tiny_folder_names_the_class_not_an_empty_dataset(tmp_path):
    root = tmp_path / "ds"
    for i in range(10): png(root / "cat" / f"c{i}.png", (i, 0, 0))
    for i in range(3): png(root / "dog" / f"d{i}.png", (0, i, 0))
    with pytest.raises(data.DatasetError) as e: folderdata.folder_loaders(root, device="cpu")
    assert "class 'dog' has 3 image(s)" in str(e.value) and "at least 8" in str(e.value)
    assert "the dataset is empty" not in str(e.value)


def test_a_presplit_folder_is_never_read_as_classes_train_and_test(tmp_path):
    root = tmp_path / "ds"
    pets(root / "train", 6); pets(root / "test", 2)
    fd = folderdata.folder_loaders(root, device="cpu")
    assert fd.classes == ["cat", "dog"] and fd.layout == "presplit"


def test_one_class_folder_is_refused(tmp_path):
    for i in range(12): png(tmp_path / "ds" / "cat" / f"{i}.png", (i, 0, 0))
    with pytest.raises(data.DatasetError, match="only 1 class folder"): folderdata.folder_loaders(tmp_path / "ds", device="cpu")


# ---- formats Pillow reads -------------------------------------------------------------------------------------------

def test_gif_still_and_animated_are_taken_first_frame(tmp_path):
    root = pets(tmp_path / "ds", 1)
    Image.new("RGB", (16, 16), (0, 0, 250)).save(root / "cat" / "still.gif")
    red, blue = Image.new("RGB", (16, 16), (250, 0, 0)), Image.new("RGB", (16, 16), (0, 0, 250))
    red.save(root / "dog" / "anim.gif", save_all=True, append_images=[blue], duration=50, loop=0)
    with Image.open(root / "dog" / "anim.gif") as im: assert im.n_frames == 2
    ds = data.load_folder(root)
    got = {Path(p).name: ds[i][0][:, 0, 0].tolist() for i, (p, _) in enumerate(ds.samples)}
    assert got["still.gif"] == [0, 0, 250] and got["anim.gif"] == [250, 0, 0]           # GIF's palette is exact here


def test_other_pillow_formats_are_counted_by_extension_not_dropped_silently(tmp_path):
    root = pets(tmp_path / "ds", 2)
    for i in range(2): Image.new("RGB", (16, 16)).save(root / "cat" / f"icon{i}.ico")
    Image.new("RGB", (16, 16)).save(root / "dog" / "scan.pcx")
    (root / "dog" / "notes.txt").write_text("not an image")
    with pytest.warns(UserWarning, match=r"ignored 3 file\(s\).*2 \.ico, 1 \.pcx"):
        ds = data.load_folder(root)
    assert ds.ignored == {".ico": 2, ".pcx": 1} and len(ds) == 4


# ---- file modes and the data command's count ------------------------------------------------------------------------

@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("make", ["make_shapes", "make_digits"])
def test_dataset_files_and_folders_are_world_readable(tmp_path, umask_022, make):
    kw = {"n_per_class": 2} if make == "make_shapes" else {"size": 8}
    root = getattr(data, make)(tmp_path / "ds", **kw)
    modes = {(p.is_dir(), oct(p.stat().st_mode & 0o777)) for p in [root, *root.rglob("*")]}
    assert modes == {(True, "0o755"), (False, "0o644")}


def test_cli_data_counts_only_class_folders(tmp_path):
    status, out, _ = cli("data", "shapes", "--out", tmp_path / "s", "--n-per-class", 1)
    assert status == 0 and "in 10 class folders" in out
    assert (tmp_path / "s" / "shapes.json").exists()


def test_a_link_from_one_split_into_another_is_not_followed(tmp_path):
    root = tmp_path / "ds"
    pets(root / "train", 4); pets(root / "test", 2)
    (root / "train" / "cat" / "more").symlink_to(root / "test" / "dog")          # test images, labelled cat, in train
    fd = quiet(folderdata.folder_loaders, root, device="cpu", splits=(0.75, 0.25))
    assert fd.counts["train"] == {"cat": 3, "dog": 3} and fd.counts["test"] == {"cat": 2, "dog": 2}
    assert any("more" in p and "not followed" in why for p, why in fd.skipped)


# ---- what real collections carry: OS litter, folders differing by case, float images, quoted globs --------------------

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(60)   # a `._name` resource-fork file's header


def littered(root: Path) -> Path:
    """`pets(root, 10)` as a Mac, a NAS and an unzipped archive leave it: AppleDouble `._c0.png` beside its image, a
    `__MACOSX/` tree of them, and a Synology `@eaDir/` holding a real JPEG thumbnail of an image (a copy that would leak)."""
    pets(root, 10)
    (root / "cat" / "._c0.png").write_bytes(APPLEDOUBLE)
    for c in ("cat", "dog"):
        (root / "__MACOSX" / c).mkdir(parents=True)
        (root / "__MACOSX" / c / "._c0.png").write_bytes(APPLEDOUBLE)
    thumbs = root / "dog" / "@eaDir" / "d0.png"
    thumbs.mkdir(parents=True)
    Image.open(root / "dog" / "d0.png").convert("RGB").save(thumbs / "SYNOFILE_THUMB_M.jpg")
    return root


def test_macos_and_nas_litter_is_neither_a_class_nor_an_image(tmp_path):
    root = littered(tmp_path / "ds")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                       # no bad file, no skipped file: litter is not data
        ds = data.load_folder(root)
    assert ds.classes == ["cat", "dog"] and len(ds) == 20
    assert not any("@eaDir" in p or "._" in p for p, _ in ds.samples)
    files, notes = image_files(root)
    assert len(files) == 20 and notes == []


def test_cli_predict_on_an_unzipped_mac_folder_reads_every_image(tmp_path, gpuvision):
    root = littered(tmp_path / "ds")
    run = gpuvision("train", "--data", root, "--out", tmp_path / "run", "--epochs", 1, "--no-progress")
    assert run.returncode == 0, run.stderr
    ran = gpuvision("predict", tmp_path / "run", root, "--no-progress")
    assert ran.returncode == 0 and "could not be read" not in ran.stderr and len(ran.stdout.splitlines()) == 20


def test_class_folders_differing_only_by_case_are_refused(tmp_path):
    root = pets(tmp_path / "ds", 2)
    shutil.copytree(root / "cat", root / "Cat")              # one class on macOS and Windows, two on Linux
    with pytest.raises(data.DatasetError, match=r"class folders 'Cat' and 'cat' under .*ds differ only by case"): data.load_folder(root)


def test_quoted_glob_is_expanded_and_a_glob_matching_nothing_says_so(tmp_path):
    root = pets(tmp_path / "ds", 3)
    files, _ = image_files([str(root / "cat" / "c*.png")])
    assert [f.name for f in files] == ["c0.png", "c1.png", "c2.png"]
    with pytest.raises(FileNotFoundError, match=r"c\*\.jpg does not exist \(as a pattern, it matches no file\)"): image_files([str(root / "cat" / "c*.jpg")])


def test_byte_identical_copies_across_splits_or_classes_are_warned_about(tmp_path):
    "A photo copied ('IMG_1 (1).jpg') is no link: a copy in the test split measures memory, one in two classes contradicts itself."
    root = tmp_path / "ds"
    for i in range(6):
        png(root / "train" / "cat" / f"c{i}.png", (10 * i + 5, 0, 0)); png(root / "train" / "dog" / f"d{i}.png", (0, 0, 10 * i + 5))
    png(root / "test" / "cat" / "t.png", (200, 0, 0)); png(root / "test" / "dog" / "u.png", (0, 0, 200))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        folderdata.folder_loaders(root, device="cpu")                       # distinct files: no warning
    shutil.copy(root / "train" / "cat" / "c1.png", root / "test" / "cat" / "c1 (1).png")
    shutil.copy(root / "train" / "cat" / "c2.png", root / "train" / "dog" / "c2 copy.png")
    with pytest.warns(UserWarning) as w: folderdata.folder_loaders(root, device="cpu")
    said = " ".join(str(x.message) for x in w)
    assert "test/cat/c1 (1).png is a byte-identical copy of train/cat/c1.png" in said
    assert "train/dog/c2 copy.png (class 'dog') is a byte-identical copy of train/cat/c2.png (class 'cat')" in said


def test_images_saved_without_an_extension_are_counted_not_dropped_silently(tmp_path):
    "A scraped or exported photo often has no extension ('photo', 'download'): left out, but counted and named."
    root = pets(tmp_path / "ds", 2)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(root / "cat" / "download", "JPEG")
    (root / "dog" / "LICENSE").write_text("not an image")
    with pytest.warns(UserWarning, match=r"ignored 1 file\(s\).*1 without an extension"):
        ds = data.load_folder(root)
    assert ds.ignored == {"without an extension": 1} and len(ds) == 4


def test_an_empty_class_folder_is_named_as_such_and_not_sent_to_on_bad_skip(tmp_path):
    "The empty-folder error advised '--on-bad skip', which then failed with 'has 0 image(s) ... divides as 0/0/0'."
    root = pets(tmp_path / "ds", 10); (root / "bird").mkdir()
    with pytest.raises(data.DatasetError) as e: data.load_folder(root)
    assert "bird" in str(e.value) and "--on-bad skip" not in str(e.value)
    status, _, err = cli("train", "--data", root, "--out", tmp_path / "run", "--epochs", 1, "--no-progress", "--on-bad", "skip")
    assert status == 2 and "class folder 'bird' has no usable image" in err and "0/0/0" not in err


def test_class_folders_differing_only_by_unicode_normalisation_are_refused(tmp_path):
    "'café' as macOS writes it (e + combining accent, NFD) beside 'café' (NFC): two classes that print the same."
    import unicodedata
    root = pets(tmp_path / "ds", 2)
    for form in ("NFC", "NFD"): shutil.copytree(root / "cat", root / unicodedata.normalize(form, "café"))
    with pytest.raises(data.DatasetError, match=re.escape("('cafe\\u0301' and 'caf\\xe9')")): data.load_folder(root)
