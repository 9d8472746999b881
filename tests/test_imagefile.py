"Appendix A2 (gpuvision_nb.imagefile): open_rgb, to_rgb, the awkward-file zoo and walk_images, beside test_data.py's uses of them."
import os, re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gpuvision_nb import imagefile
from gpuvision_nb.imagefile import (BAD_CASES, IMAGE_EXTENSIONS, UNREADABLE, BadImageError, DatasetError, open_rgb,
                                    reference_image, to_rgb, walk_images, write_bad_images)


def test_bad_image_error_is_a_dataset_error_and_a_value_error():
    assert issubclass(BadImageError, DatasetError) and issubclass(DatasetError, ValueError)


@pytest.fixture
def zoo(tmp_path):
    "Per test, not per module: mutmut runs, per mutant, only the tests whose own run called the mutated function."
    return write_bad_images(tmp_path / "zoo")


def test_the_zoo_s_file_names(zoo):
    "mutmut (imagefile, seed 23): a file name of the zoo ('bomb.png' → 'BOMB.PNG') could change unnoticed; chapter 03 shows them."
    assert {c: p.name for c, p in zoo.items()} == {
        "empty": "empty.png", "truncated-png": "truncated.png", "truncated-jpeg": "truncated.jpg",
        "text-as-png": "not an image.png", "tiny-1x1": "tiny 1x1.png", "bomb": "bomb.png", "gray": "gray.png",
        "rgba": "rgba.png", "palette": "palette.png", "gray16": "gray16.png", "cmyk-jpeg": "cmyk.jpg", "rgb-jpeg": "rgb.jpg"}


def test_every_good_case_decodes_to_the_reference_picture(tmp_path):
    """mutmut (imagefile, seed 23): the 16-bit file's ×257 (→ ×258 wraps around) and the JPEGs' quality=95, no chroma
    subsampling (dropped: max error 108 levels) survived. Lossless cases are exact; JPEGs within a few levels.
    (Its own zoo, not the module's: mutmut runs, per mutant, only the tests that called the function themselves.)"""
    zoo = write_bad_images(tmp_path)
    ref = reference_image()
    grey = np.asarray(Image.fromarray(ref).convert("L").convert("RGB"))
    for case in ("gray", "gray16", "rgba", "palette"):
        got = np.asarray(open_rgb(zoo[case]))
        assert got.dtype == np.uint8 and np.array_equal(got, grey if case.startswith("gray") else ref), case
    for case in ("rgb-jpeg", "cmyk-jpeg"):
        err = np.abs(np.asarray(open_rgb(zoo[case])).astype(int) - ref)
        assert err.max() <= 40 and err.mean() <= 3, (case, err.max(), err.mean())


def test_gray16_is_scaled_not_clipped():
    "to_rgb maps 16-bit grey v to v >> 8 (65535 → 255, 256 → 1), for each of Pillow's 16/32-bit grey modes."
    a = np.array([[0, 255, 256, 32768, 65535, 40000]], np.uint16)
    want = [0, 0, 1, 128, 255, 156]
    assert np.asarray(to_rgb(Image.fromarray(a)))[0, :, 0].tolist() == want
    assert np.asarray(to_rgb(Image.fromarray(a.astype(np.int32), "I")))[0, :, 1].tolist() == want
    for mode in ("I;16", "I;16L", "I;16B"):                                          # each byte order Pillow names
        im = Image.new(mode, (6, 1))
        for i, v in enumerate(a[0].tolist()): im.putpixel((i, 0), v)
        assert np.asarray(to_rgb(im))[0, :, 0].tolist() == want, mode
    big = Image.fromarray(np.array([[-5, 70000]], np.int32), "I")                      # out of 16-bit range: clipped first
    assert np.asarray(to_rgb(big))[0, :, 2].tolist() == [0, 255]


def test_empty_and_missing_files_say_so_by_name(zoo, tmp_path):
    "mutmut (imagefile, seed 23): the messages for an empty file and a missing one (a broken link) survived."
    with pytest.raises(BadImageError, match=r"empty\.png: is empty \(0 bytes\)$"): open_rgb(zoo["empty"])
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(BadImageError, match=r"gone\.png: does not exist \(a broken link\?\)$"): open_rgb(tmp_path / "gone.png")
    with pytest.raises(BadImageError, match=r"tiny 1x1\.png: is only 1×1 pixels, less than min_size=8$"): open_rgb(zoo["tiny-1x1"])
    assert open_rgb(zoo["tiny-1x1"], min_size=1).size == (1, 1)


def test_walk_images_notes_say_what_was_left_out_and_why(tmp_path):
    "Known gap: walk_images' notes (their wording is what users read in `.skipped`)."
    root = tmp_path / "ds"
    (root / "cat" / "sub").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / "cat" / "a.png")
    Image.new("RGB", (8, 8)).save(root / "cat" / "sub" / "b.PNG")                     # extensions in any case
    os.link(root / "cat" / "a.png", root / "cat" / "twin.png")
    (root / "cat" / "loop").symlink_to(root)                                          # into the dataset: not followed
    outside = tmp_path / "outside"; outside.mkdir(); Image.new("RGB", (8, 8)).save(outside / "c.png")
    (root / "cat" / "far").symlink_to(outside); (root / "cat" / "far2").symlink_to(outside)   # outside: walked once
    Image.new("RGB", (8, 8)).save(root / "cat" / "icon.ico"); (root / "cat" / "notes.txt").write_text("x")
    files, left_out, other = walk_images(root / "cat", root)
    rel = lambda p: Path(p).relative_to(root).as_posix()
    assert [rel(f) for f in files] == ["cat/a.png", "cat/far/c.png", "cat/sub/b.PNG"]
    assert [(rel(p), why) for p, why in left_out] == [
        ("cat/far2", "a folder already listed (through a symlink): not walked twice"),
        ("cat/loop", f"a symlink to {os.path.realpath(root)}, inside the dataset or above it: not followed"),
        ("cat/twin.png", f"the same file as {root / 'cat' / 'a.png'} (a link): counted once")]
    assert other == Counter({".ico": 1})


def test_walk_images_shares_seen_files_across_calls(tmp_path):
    "One `seen` dict for several folders: a file linked into a second class folder is taken once, in the first."
    for c in ("a", "b"): (tmp_path / c).mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png"); os.link(tmp_path / "a" / "x.png", tmp_path / "b" / "y.png")
    seen = {}
    assert len(walk_images(tmp_path / "a", tmp_path, seen)[0]) == 1
    files, left_out, _ = walk_images(tmp_path / "b", tmp_path, seen)
    assert files == [] and left_out == [(str(tmp_path / "b" / "y.png"), f"the same file as {tmp_path / 'a' / 'x.png'} (a link): counted once")]
    assert walk_images(tmp_path / "b", tmp_path)[0] == [str(tmp_path / "b" / "y.png")]      # a fresh dict: taken


# ---- make mutate (imagefile, unseen seed 31, sample 30) -----------------------------------------------------------
def test_transparency_of_every_kind_is_composited_on_black():
    """mutmut (imagefile, seed 31): the palette-with-transparency branch (`convert('RGBA')` → an invalid mode) had no
    test. Writing this one found a real bug: a premultiplied 'La' image (preprocess takes PIL images of any mode)
    raised ValueError 'conversion from La to L not supported'; to_rgb now converts it through 'LA'."""
    import io
    p = Image.new("P", (3, 1)); p.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255]); p.putdata([0, 1, 2])
    b = io.BytesIO(); p.save(b, "PNG", transparency=1); pal = Image.open(b)
    assert pal.mode == "P" and "transparency" in pal.info
    assert np.asarray(to_rgb(pal)).tolist() == [[[255, 0, 0], [0, 0, 0], [0, 0, 255]]]   # index 1 is transparent
    la = Image.new("La", (2, 1)); la.putpixel((0, 0), (100, 128)); la.putpixel((1, 0), (200, 255))
    assert np.abs(np.asarray(to_rgb(la)).astype(int) - [[[100] * 3, [200] * 3]]).max() <= 1          # already × alpha
    LA = Image.new("LA", (2, 1)); LA.putpixel((0, 0), (200, 0)); LA.putpixel((1, 0), (200, 255))
    assert np.asarray(to_rgb(LA)).tolist() == [[[0] * 3, [200] * 3]]
    pa = Image.new("PA", (1, 1)); pa.putpalette([10, 20, 30]); pa.putpixel((0, 0), (0, 255))
    assert np.asarray(to_rgb(pa)).tolist() == [[[10, 20, 30]]]
    grey_key = Image.new("L", (2, 1), 50); grey_key.putpixel((1, 0), 90); grey_key.info["transparency"] = 90
    assert np.asarray(to_rgb(grey_key)).tolist() == [[[50] * 3, [0] * 3]]                  # a transparent colour key


def test_bomb_png_is_a_valid_header_of_8_bit_grey(tmp_path):
    "mutmut (imagefile, seed 31): the IHDR's bit depth 8 (→ 9, an invalid PNG refused for another reason) survived."
    import io
    with Image.open(io.BytesIO(imagefile.bomb_png(20, 30))) as im:
        assert (im.mode, im.size) == ("L", (20, 30))
    (tmp_path / "b.png").write_bytes(imagefile.bomb_png(100, 100))
    with pytest.raises(BadImageError, match=r"b\.png: declares 100×100 = 10,000 pixels, more than max_pixels=5,000 \(a decompression bomb\?\); if it is a real photo, make a smaller copy"):
        open_rgb(tmp_path / "b.png", max_pixels=5000)
    (tmp_path / "big.png").write_bytes(imagefile.bomb_png())                         # Pillow's own limit refuses it first
    with pytest.raises(BadImageError, match=r"big\.png: is a decompression bomb"): open_rgb(tmp_path / "big.png", max_pixels=10**12)


def test_a_broken_link_is_listed_for_open_rgb_to_name(tmp_path):
    "mutmut (imagefile, seed 31): a broken link's path (kept so that open_rgb names it) → 'None' survived."
    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    files, left_out, _ = walk_images(tmp_path, tmp_path)
    assert files == [str(tmp_path / "gone.png"), str(tmp_path / "ok.png")] and left_out == []


# ---- make mutate (imagefile, unseen seed 47, sample 30) -----------------------------------------------------------
def test_premultiplied_rgba_is_already_on_black():
    "mutmut (imagefile, seed 47): 'RGBa' dropped from the alpha modes survived: Pillow's RGBa → RGB un-premultiplies (×2 here)."
    im = Image.new("RGBa", (1, 1), (100, 50, 20, 128))
    assert np.asarray(to_rgb(im)).tolist() == [[[100, 50, 20]]]


def test_write_bad_images_makes_missing_parent_folders(tmp_path):
    "mutmut (imagefile, seed 47): `mkdir(parents=True)` → `False` (a nested new folder) survived."
    files = write_bad_images(tmp_path / "a" / "b")
    assert all(p.parent == tmp_path / "a" / "b" and p.exists() for p in files.values())


# How a viewer shows stored pixels s for each EXIF Orientation value, written from the TIFF/EXIF specification's table
# (row 0 / column 0 of the stored image is the visual ...), independently of Pillow's own mapping.
EXIF_VIEW = {1: lambda s: s, 2: np.fliplr, 3: lambda s: np.rot90(s, 2), 4: np.flipud,
             5: lambda s: s.transpose(1, 0, 2), 6: lambda s: np.rot90(s, -1),
             7: lambda s: np.rot90(s, 2).transpose(1, 0, 2), 8: lambda s: np.rot90(s, 1)}


def _with_orientation(path, pixels, orientation, **kw):
    exif = Image.Exif(); exif[imagefile.ORIENTATION] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **kw)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_open_rgb_shows_each_exif_orientation_as_a_viewer_does(tmp_path, orientation):
    "A phone photo's EXIF Orientation is applied (lossless PNG: exact), so a model sees what the user sees."
    stored = np.random.default_rng(orientation).integers(0, 256, (9, 14, 3), dtype=np.uint8)   # not square, no symmetry
    got = np.asarray(open_rgb(_with_orientation(tmp_path / "p.png", stored, orientation)))
    np.testing.assert_array_equal(got, EXIF_VIEW[orientation](stored))


@pytest.mark.parametrize("orientation", [0, 9, 65535])
def test_open_rgb_leaves_an_image_with_an_invalid_orientation_as_stored(tmp_path, orientation):
    stored = np.random.default_rng(0).integers(0, 256, (9, 14, 3), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(open_rgb(_with_orientation(tmp_path / "p.png", stored, orientation))), stored)


def test_a_rotated_jpeg_is_upright_for_prediction_and_training(tmp_path):
    "A sideways phone JPEG reaches decode_pixels (predict) and load_folder (training) as the upright picture."
    from gpuvision_nb.data import load_folder
    from gpuvision_nb.imagefile import decode_pixels
    portrait = np.zeros((48, 32, 3), np.uint8); portrait[:24] = (255, 0, 0)         # red top half, black bottom
    (tmp_path / "cat").mkdir(); (tmp_path / "dog").mkdir()
    jpg = _with_orientation(tmp_path / "cat" / "phone.jpg", np.rot90(portrait, 1).copy(), 6, quality=95)
    png = tmp_path / "dog" / "upright.png"; Image.fromarray(portrait).save(png)
    pixels, errors = decode_pixels([jpg, png], 32)
    assert errors == [None, None]
    a, b = pixels.astype(int)
    assert np.abs(a - b).mean() < 3 and a[:12, :, 0].min() > 200 and a[-12:, :, 0].max() < 60   # JPEG error only
    ds = load_folder(tmp_path, size=32)
    (x, cat), (y, dog) = ds[0], ds[1]
    assert (cat, dog) == (0, 1) and (x.int() - y.int()).abs().float().mean() < 3


@pytest.fixture
def photo_jpeg(tmp_path):
    "A 1024×768 photo-like JPEG (smooth, so JPEG's DCT scaling is close to a full decode then a resize)."
    small = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(small).resize((1024, 768), Image.BICUBIC).save(tmp_path / "photo.jpg", quality=90)
    return tmp_path / "photo.jpg"


@pytest.mark.parametrize("size, decoded", [(None, (1024, 768)), (32, (128, 96)), (96, (128, 96)), (100, (256, 192)), (200, (512, 384)),
                                           (400, (1024, 768)), (768, (1024, 768))])
def test_open_rgb_size_decodes_a_jpeg_at_the_smallest_scale_that_keeps_both_sides_at_least_size(photo_jpeg, size, decoded):
    im = open_rgb(photo_jpeg, size=size)
    assert im.size == decoded and im.mode == "RGB" and (size is None or min(im.size) >= size)


def test_open_rgb_size_gives_nearly_the_full_decode_s_model_pixels_and_leaves_other_formats_alone(photo_jpeg, tmp_path):
    "Fitted to 32 px, the reduced decode differs from the full one by under 1 grey level on average (measured 0.1)."
    from gpuvision_nb.imagefile import fit_image
    full, fast = (np.asarray(fit_image(open_rgb(photo_jpeg, size=s), 32)).astype(int) for s in (None, 32))
    assert np.abs(full - fast).mean() < 1
    png = tmp_path / "photo.png"; Image.open(photo_jpeg).save(png)
    assert open_rgb(png, size=32).size == (1024, 768)
    np.testing.assert_array_equal(np.asarray(open_rgb(png, size=32)), np.asarray(open_rgb(png)))


def test_open_rgb_size_still_reads_every_byte_so_a_truncated_jpeg_fails(photo_jpeg):
    data = photo_jpeg.read_bytes(); photo_jpeg.write_bytes(data[: len(data) * 2 // 3])
    for size in (None, 32):
        with pytest.raises(BadImageError, match="truncated"): open_rgb(photo_jpeg, size=size)


def test_predict_and_training_decode_at_their_model_size(photo_jpeg, monkeypatch):
    "decode_pixels (predict) and load_folder (the check and every item) ask open_rgb for the model's size."
    from gpuvision_nb import data
    from gpuvision_nb.imagefile import decode_pixels
    sizes, real = [], imagefile.open_rgb
    def spy(path, *a, **kw): sizes.append(kw.get("size")); return real(path, *a, **kw)
    monkeypatch.setattr(imagefile, "open_rgb", spy); monkeypatch.setattr(data, "open_rgb", spy)
    decode_pixels([photo_jpeg], 24)
    (photo_jpeg.parent / "cat").mkdir(); photo_jpeg.rename(photo_jpeg.parent / "cat" / "p.jpg")
    ds = data.load_folder(photo_jpeg.parent, size=40); ds[0]
    assert sizes == [24, 40, 40]


def test_model_pixels_keep_a_channel_axis_for_a_grey_model():
    "(size, size, in_channels) for 1 and 3 channels: a grey model's pixels are (s, s, 1), not (s, s)."
    from gpuvision_nb.imagefile import model_pixels
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8))
    grey, rgb = model_pixels(im, 8, 1), model_pixels(im, 8)
    assert grey.shape == (8, 8, 1) and rgb.shape == (8, 8, 3) and grey.dtype == rgb.dtype == np.uint8
    np.testing.assert_array_equal(grey[:, :, 0], np.asarray(Image.fromarray(rgb).convert("L")))


FAKE_HEIC = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64)      # an ISO-BMFF header Pillow alone can't identify


@pytest.mark.skipif(imagefile.heif_support(), reason="pillow-heif is installed: HEIC files are read")
def test_a_heic_photo_without_pillow_heif_fails_by_name_saying_what_to_do(tmp_path):
    "An iPhone's HEIC photo is taken as an image (not silently ignored) and fails naming the plugin, in predict and training."
    from gpuvision_nb.data import load_folder
    from gpuvision_nb.imagefile import image_files
    (tmp_path / "cat").mkdir(); (tmp_path / "dog").mkdir()
    (tmp_path / "cat" / "IMG_0001.HEIC").write_bytes(FAKE_HEIC)
    for c in ("cat", "dog"): Image.new("RGB", (16, 16), (9, 9, 9)).save(tmp_path / c / "ok.png")
    want = "is a HEIC/HEIF photo (an iPhone's default format), which Pillow reads only with the pillow-heif plugin"
    with pytest.raises(BadImageError, match=r"IMG_0001\.HEIC: " + re.escape(want)): open_rgb(tmp_path / "cat" / "IMG_0001.HEIC")
    assert image_files(tmp_path / "cat")[0] == [tmp_path / "cat" / "IMG_0001.HEIC", tmp_path / "cat" / "ok.png"]
    with pytest.raises(BadImageError, match=r"(?s)1 bad image file.*IMG_0001\.HEIC: " + re.escape(want)): load_folder(tmp_path)
    with pytest.warns(UserWarning, match="skipped 1 bad file"): ds = load_folder(tmp_path, on_bad="skip")
    assert len(ds) == 2


def test_a_jpeg_named_heic_is_read_and_other_unknown_content_keeps_the_generic_message(tmp_path):
    Image.new("RGB", (16, 16), (200, 10, 10)).save(tmp_path / "renamed.heic", format="JPEG")
    assert np.asarray(open_rgb(tmp_path / "renamed.heic"))[0, 0].tolist()[0] > 190
    (tmp_path / "notes.avif").write_bytes(b"not an image at all" * 10)
    (tmp_path / "notes.png").write_bytes(b"not an image at all" * 10)
    for name in ("notes.png",) + (("notes.avif",) if ".avif" in Image.registered_extensions() else ()):
        with pytest.raises(BadImageError, match=r"is not an image file PIL can read \(wrong content for its name\?\)$"):
            open_rgb(tmp_path / name)


@pytest.mark.skipif(".avif" not in Image.registered_extensions(), reason="this Pillow has no AVIF support")
def test_an_avif_photo_is_taken_as_an_image(tmp_path):
    from gpuvision_nb.imagefile import walk_images
    Image.new("RGB", (32, 24), (10, 200, 10)).save(tmp_path / "phone.avif", quality=90)
    files, left_out, other = walk_images(tmp_path, tmp_path)
    assert files == [str(tmp_path / "phone.avif")] and not left_out and not other
    r, g, b = np.asarray(open_rgb(tmp_path / "phone.avif")).reshape(-1, 3).mean(0)
    assert g > 180 and r < 40 and b < 40


@pytest.mark.skipif(not imagefile.heif_support(), reason="pillow-heif is not installed")
def test_a_heic_photo_is_read_when_pillow_heif_is_installed(tmp_path):
    Image.new("RGB", (64, 48), (200, 10, 10)).save(tmp_path / "IMG_0002.HEIC", format="HEIF")
    r, g, b = np.asarray(open_rgb(tmp_path / "IMG_0002.HEIC")).reshape(-1, 3).mean(0)
    assert r > 180 and g < 40 and b < 40


def test_an_avif_file_is_explained_only_where_pillow_lacks_avif(tmp_path, monkeypatch):
    "mutmut (imagefile, seed 83): the AVIF advice must go to an .avif file Pillow can't read, and to no other file."
    junk = b"not an image at all" * 10
    for name in ("x.avif", "x.png"): (tmp_path / name).write_bytes(junk)
    registered = {e: f for e, f in Image.registered_extensions().items() if e != ".avif"}
    monkeypatch.setattr(Image, "registered_extensions", lambda: registered)        # a Pillow without AVIF
    with pytest.raises(BadImageError, match=r"x\.avif: is an AVIF image, which this Pillow can't read"): open_rgb(tmp_path / "x.avif")
    with pytest.raises(BadImageError, match=r"x\.png: is not an image file PIL can read"): open_rgb(tmp_path / "x.png")


@pytest.mark.parametrize("w, h, resized", [(48, 40, (38, 32)), (40, 48, (32, 38)), (100, 20, (160, 32)), (32, 32, (32, 32))])
def test_fit_image_resizes_the_short_side_then_crops_the_centre(w, h, resized):
    "Landscape and portrait alike: the short side becomes `size`, the long one keeps the aspect (truncated), centre crop."
    from gpuvision_nb.imagefile import fit_image
    im = Image.fromarray(np.random.default_rng(w * h).integers(0, 256, (h, w, 3), dtype=np.uint8))
    rw, rh = resized
    want = im.resize(resized, Image.BILINEAR) if resized != (w, h) else im
    left, top = round((rw - 32) / 2), round((rh - 32) / 2)
    np.testing.assert_array_equal(np.asarray(fit_image(im, 32)), np.asarray(want.crop((left, top, left + 32, top + 32))))


def test_image_files_names_a_long_missing_path_whole_and_notes_other_formats_and_links(tmp_path):
    "mutmut (imagefile, seed 83): a long but printable path is not cut; the note counts other formats; links counted once."
    from gpuvision_nb.imagefile import image_files
    long = tmp_path / ("d" * 150) / "cat.png"
    with pytest.raises(FileNotFoundError) as e: image_files([long])
    assert str(e.value) == f"{long} does not exist"
    (tmp_path / "a").mkdir(); (tmp_path / "b").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png"); Image.new("RGB", (8, 8)).save(tmp_path / "a" / "icon.ico")
    os.link(tmp_path / "a" / "x.png", tmp_path / "b" / "same.png")         # b's only image is a's, by another name
    files, notes = image_files([tmp_path / "a", tmp_path / "b"])
    assert files == [tmp_path / "a" / "x.png"]
    assert notes[0] == (f"ignored 1 file(s) under {tmp_path / 'a'} that Pillow can open but that are not taken as images "
                        "(1 .ico); name them one by one to classify them")
    assert notes[1].startswith(f"left out {tmp_path / 'b' / 'same.png'}: the same file as") and notes[1].endswith("counted once")


def test_float_images_in_0_1_are_scaled_and_others_fail_by_name_with_their_range(tmp_path):
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)       # a float TIFF's usual [0, 1] brightness
    Image.fromarray(ramp, "F").save(tmp_path / "unit.tif")
    got = np.asarray(open_rgb(tmp_path / "unit.tif"))
    assert got.shape == (8, 8, 3) and (got[..., 0] == np.round(ramp * 255).astype(np.uint8)).all()
    Image.fromarray(ramp * 1000, "F").save(tmp_path / "depth.tif")      # depth in mm: no known brightness
    with pytest.raises(BadImageError, match=r"depth\.tif: holds 32-bit float pixels from 0 to 1000"): open_rgb(tmp_path / "depth.tif")
    Image.fromarray(np.full((8, 8), 1 << 20, np.int32), "I").save(tmp_path / "counts.tif")
    with pytest.raises(BadImageError, match=r"counts\.tif: holds 32-bit integer pixels from 1048576 to 1048576"):
        open_rgb(tmp_path / "counts.tif")


def test_open_rgb_of_a_folder_says_folder_not_pipe(tmp_path):
    (tmp_path / "holiday.jpg").mkdir()                                   # a folder named like a photo
    with pytest.raises(BadImageError, match=r"holiday\.jpg: is a folder, not an image file"): open_rgb(tmp_path / "holiday.jpg")


def test_stdin_paths_reads_a_list_saved_on_windows():
    "Notepad's list: a UTF-8 BOM and CRLF line ends; the paths were 'IMG_1.jpg\\r' and '\\ufeffIMG_1.jpg', which don't exist."
    import io
    assert imagefile.stdin_paths(io.BytesIO(b"\xef\xbb\xbfIMG_1.jpg\r\nmy photos/b.jpg\r\n\r\n")) == ["IMG_1.jpg", "my photos/b.jpg"]
    assert imagefile.stdin_paths(io.BytesIO(b"odd\r\0b\0")) == ["odd\r", "b"]          # find -print0: every byte is the name's
    assert imagefile.stdin_paths(io.BytesIO(b"a.jpg\n  \t \r\n\tb.jpg \n")) == ["a.jpg", "\tb.jpg "]   # a blank line of spaces; names kept whole


# ---- tools/mutate.py imagefile --sample 25 --seed 706: survivors killed ------------------------------------------
def test_class_folders_differing_by_case_are_named_with_what_to_do(tmp_path):
    "mutmut: the message's last words 'are one class' → 'XXare one classXX' survived."
    from gpuvision_nb.imagefile import check_case_distinct
    with pytest.raises(DatasetError) as e: check_case_distinct(["cat", "Cat"], tmp_path, "load_folder")
    assert str(e.value) == (f"load_folder: class folders 'Cat' and 'cat' under {tmp_path} differ only by case or by how their "
                            "accents are encoded: on macOS and Windows they are one folder; rename one, or merge them if "
                            "they are one class")


def test_a_missing_odd_name_of_121_escaped_characters_is_cut_with_an_ellipsis(tmp_path):
    "Over 120 characters shown escaped: the first 120 and '…' (mutmut: > 120 → > 121 survived)."
    name = "a" * 115 + "\x01"                # a relative name; ascii() adds 2 quotes and 3 characters (\x01): 121
    assert len(ascii(name)) == 121
    with pytest.raises(FileNotFoundError) as e: imagefile.image_files([name])
    assert str(e.value).startswith(ascii(name)[:120] + "… does not exist")


def test_a_dot_file_is_data_only_apple_double_files_are_not():
    "Only folders are skipped for a leading dot; a file only for macOS's '._' (mutmut: `if is_dir` → always survived)."
    assert not imagefile.not_data(".cat.jpg", False) and imagefile.not_data("._cat.jpg", False)
    assert imagefile.not_data(".cache", True) and not imagefile.not_data("__MACOSX", False)


def test_write_bad_images_names_itself_when_a_file_is_in_the_way(tmp_path):
    "mutmut: check_new_files' who 'write_bad_images' → 'XXwrite_bad_imagesXX' survived."
    (tmp_path / "empty.png").write_bytes(b"mine")
    with pytest.raises(FileExistsError, match=r"^write_bad_images: .*empty\.png already exists"): write_bad_images(tmp_path)
    assert (tmp_path / "empty.png").read_bytes() == b"mine"


# ---- newuser: a 108-megapixel phone photo was refused as "a decompression bomb" ----

def test_a_big_jpeg_is_limited_by_the_pixels_decoded_at_its_draft_scale(tmp_path, monkeypatch):
    """`gpuvision predict` refused a user's 12000×9000 phone photo: "is a decompression bomb (Image size (108000000
    pixels) exceeds limit of 89478485 pixels…)" — Pillow's warning above 89 megapixels made an error, and max_pixels
    applied to the declared size though a JPEG fitted to a small model is decoded at 1/8 scale. Here 640×480 stands
    for it: Pillow's limit lowered below its size, max_pixels below it too, and the model's 32 pixels."""
    Image.new("RGB", (640, 480), (200, 30, 30)).save(tmp_path / "phone.jpg", quality=90)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)                # 640×480 = 307,200: Pillow warns, 1×–2× its limit
    im = open_rgb(tmp_path / "phone.jpg", max_pixels=100_000, size=32)      # decoded at 1/8: 80×60 = 4,800 pixels
    assert im.size == (80, 60) and im.mode == "RGB" and abs(np.asarray(im)[..., 0].astype(int).mean() - 200) < 3
    with pytest.raises(BadImageError, match=r"declares 640×480 = 307,200 pixels, more than max_pixels=100,000 .*make a smaller copy"):
        open_rgb(tmp_path / "phone.jpg", max_pixels=100_000)                # all of it: refused, and told what to do
    with pytest.raises(BadImageError, match=r"640×480 = 307,200 pixels, 80×60 at its smallest JPEG scale, more than max_pixels=1,000 "):
        open_rgb(tmp_path / "phone.jpg", max_pixels=1_000, size=32)


NFC, NFD = "caf\u00e9", "cafe\u0301"                           # 'café' as typed on Linux, and as a Mac writes it


def test_near_miss_names_the_name_that_is_there_written_otherwise(tmp_path, monkeypatch):
    """A path that does not exist: the first missing part of it is compared with the names in its folder, by
    `name_key` (NFC, case folded). An accent encoded otherwise is shown in ascii (on screen both read 'café'); a
    case difference asks 'did you mean'; nothing alike, or a folder that can't be listed, adds nothing."""
    from gpuvision_nb.imagefile import near_miss
    (tmp_path / NFD / "sub").mkdir(parents=True); (tmp_path / "Cat.JPG").write_bytes(b"x")
    assert near_miss(tmp_path / NFC / "sub" / "x.png") == (
        f" ({tmp_path / NFD} is there: the same name with its accents encoded otherwise, 'cafe\\u0301' rather than "
        "'caf\\xe9', as a Mac writes names: let the shell's Tab key complete it, or rename it)")
    assert near_miss(tmp_path / NFD / "SUB") == f" (did you mean {tmp_path / NFD / 'sub'}? Its name differs only in upper and lower case)"
    assert near_miss(tmp_path / "cat.jpg") == f" (did you mean {tmp_path / 'Cat.JPG'}? Its name differs only in upper and lower case)"
    assert near_miss(tmp_path / "dog.jpg") == "" and near_miss(tmp_path / "nope" / "Cat.JPG") == ""
    monkeypatch.chdir(tmp_path)                                     # a relative path is answered relative
    assert near_miss(Path(NFC) / "sub").startswith(f" ({Path(NFD) / 'sub'} is there:")
    monkeypatch.setenv("HOME", str(tmp_path))                      # '~' is the home folder, as for every path argument
    assert near_miss(f"~/{NFC}").startswith(f" ({tmp_path / NFD} is there:")
    (tmp_path / "cAT.jpg").write_bytes(b"x")                       # two alike: the first in sorted order, every time
    assert near_miss(tmp_path / "cat.jpg") == f" (did you mean {tmp_path / 'Cat.JPG'}? Its name differs only in upper and lower case)"
    monkeypatch.setattr(os, "listdir", lambda p: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    assert near_miss(tmp_path / "cat.jpg") == ""


def test_near_miss_follows_every_part_written_otherwise_to_the_path_that_is_there(tmp_path):
    """Typed `Photos/café/cat.jpg`, there `photos/café(NFD)/Cat.jpg`: the hint named only the first part ('did you mean
    photos?'), and the user met the next miss after fixing it. Each part with a twin is now taken as it is there and the
    walk goes on: the hint names the whole path, or as far as it goes; 'name' for one part written otherwise, 'path'
    for several; an accent's spellings are shown once, from the first part whose accents differ."""
    from gpuvision_nb.imagefile import near_miss
    (tmp_path / "photos" / NFD).mkdir(parents=True); (tmp_path / "photos" / NFD / "Cat.jpg").write_bytes(b"x")
    mac = (f"'cafe\\u0301' rather than 'caf\\xe9', as a Mac writes names: let the shell's Tab key complete it, or rename it")
    assert near_miss(tmp_path / "Photos" / NFC / "cat.jpg") == (
        f" (did you mean {tmp_path / 'photos' / NFD / 'Cat.jpg'}? Its path differs only in upper and lower case and in how "
        f"its accents are encoded, {mac})")
    assert near_miss(tmp_path / "photos" / NFC / "Cat.jpg") == (
        f" ({tmp_path / 'photos' / NFD / 'Cat.jpg'} is there: the same name with its accents encoded otherwise, {mac})")
    assert near_miss(tmp_path / "Photos" / NFD / "dog.jpg") == (                 # as far as it goes: the part that differs
        f" (did you mean {tmp_path / 'photos'}? Its name differs only in upper and lower case)")
    assert near_miss(tmp_path / "PHOTOS" / NFD / "CAT.JPG") == (
        f" (did you mean {tmp_path / 'photos' / NFD / 'Cat.jpg'}? Its path differs only in upper and lower case)")
    assert near_miss(tmp_path / "photos" / NFD / "Cat.jpg") == ""               # there as typed: nothing to say


def test_image_files_says_which_name_is_there_when_one_is_missing(tmp_path):
    "gpuvision predict's paths: 'does not exist' and what is there (a pattern's or stdin's hint comes first)."
    (tmp_path / NFD).mkdir(); Image.new("RGB", (8, 8)).save(tmp_path / NFD / "a.png")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / NFC / 'a.png'} does not exist ({tmp_path / NFD / 'a.png'} is there")):
        imagefile.image_files([tmp_path / NFC / "a.png"])                   # the whole path that is there
    with pytest.raises(FileNotFoundError, match=re.escape("does not exist (as a pattern, it matches no file)")):
        imagefile.image_files([tmp_path / NFC / "*.png"])


@pytest.mark.parametrize("load", ["load_folder", "folder_loaders", "load_exported", "load_video_model", "open_video"])
def test_every_loader_names_the_path_there_with_accents_encoded_otherwise(tmp_path, load):
    "The Python loaders a user calls with a path (the CLI's are in test_cli_faults): 'does not exist' + `near_miss`."
    import torch
    from gpuvision_nb import data, folderdata, modelfile, video, videofile
    (tmp_path / NFD).mkdir()
    typed = tmp_path / NFC
    call = {"load_folder": lambda: data.load_folder(typed), "folder_loaders": lambda: folderdata.folder_loaders(typed, device="cpu"),
            "load_exported": lambda: modelfile.load_exported(typed / "m.safetensors", torch.nn.Linear(1, 1)),
            "load_video_model": lambda: video.load_video_model(typed / "model", device="cpu"),
            "open_video": lambda: videofile.open_video(typed / "clip.mp4")}[load]
    with pytest.raises(Exception, match=re.escape(f"{tmp_path / NFD} is there: the same name with its accents encoded otherwise")):
        call()


# ---- tools/mutate.py imagefile --sample 25 --seed 920: the survivors, each killed --------------------------------
def test_model_pixels_converts_an_image_that_is_not_rgb_first():
    "mutmut: model_pixels' to_rgb(im) → to_rgb(None) for a non-RGB image survived (every test gave it RGB)."
    grey = imagefile.model_pixels(Image.new("L", (10, 6), 100), 4)
    assert grey.shape == (4, 4, 3) and (grey == 100).all()
    assert (imagefile.model_pixels(Image.new("LA", (4, 4), (100, 255)), 4, in_channels=1) == 100).all()

