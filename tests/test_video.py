"Chapter 12 (gpuvision_nb.video): bad videos, the generated clips, streaming, models, classify_video and `gpuvision video`."
import json, os, re, resource, shutil, subprocess, sys, time, tracemalloc
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from conftest import dead_process_tag, linux_tags
from gpuvision_nb.data import DatasetError, shape_rng
from gpuvision_nb.device import DeviceUnavailableError, get_device
from gpuvision_nb.models import SeedCNN
from gpuvision_nb.video import (BAD_VIDEO_CASES, VIDEO_CLASSES, BadVideoError, ClipLoader, FrameDiff, FrameSpec, PerFrame,
                                VideoFolder, VideoReader, VideoWriter, classify_video, clip_flops, decode_frames,
                                load_video, load_video_model, make_videos, nvdec_status, random_motion,
                                render_clip, save_video_model, bar_frames, video_model, video_root, write_bad_videos,
                                write_video, yuv420_to_rgb)

REASONS = {"zero-byte": "is empty (0 bytes)", "text-as-mp4": "is not a video file FFmpeg can read",
           "truncated": "truncated", "truncated-faststart": "truncated", "audio-only": "has no video stream",
           "no-decodable-frames": "contains no decodable frames", "garbage-data": "damaged or truncated",
           "one-frame": "has only 1 frame(s); at least 2 are needed", "huge-header": "refused before decoding",
           "variable-frame-rate": "has a variable frame rate", "unsupported-codec": "can't decode"}


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return write_bad_videos(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("clips") / "videos", n_per_class=2)


@pytest.mark.parametrize("case", BAD_VIDEO_CASES)
def test_every_bad_video_names_the_file_and_the_reason(bad, case):
    assert set(REASONS) == set(BAD_VIDEO_CASES)
    with pytest.raises(BadVideoError) as e: load_video(bad[case])
    assert str(e.value).startswith(str(bad[case])) and REASONS[case] in str(e.value)
    assert isinstance(e.value, DatasetError) and isinstance(e.value, ValueError)      # what the CLI maps to exit 2


def test_huge_header_is_refused_before_allocating(bad):
    before, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter()
    with pytest.raises(BadVideoError, match="16000×16000"): load_video(bad["huge-header"])
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024     # Linux: KiB
    assert grown_mib < 100 and time.perf_counter() - t0 < 5     # one decoded frame would be 384 MB of YUV


def test_non_ascii_names_load_and_appear_in_errors(bad):
    x, fps = load_video(bad["non-ascii-name"])
    assert x.shape == (16, 3, 64, 64) and x.dtype == torch.uint8 and fps == 25.0
    with pytest.raises(BadVideoError, match="ünïcødé 視頻 clip.mp4: has only 16 frame"):
        load_video(bad["non-ascii-name"], min_frames=17)


def test_clip_shorter_than_the_model_needs(bad, tmp_path):
    model, spec = FrameDiff(SeedCNN(2, (4, 4, 4), 8)), FrameSpec(list(VIDEO_CLASSES), clip_frames=8, stride=2)
    with pytest.raises(BadVideoError, match="one-frame.mp4: has 1 frames; this model needs at least 5"):
        classify_video(model, bad["one-frame"], spec, "cpu")
    short = write_video(tmp_path / "four.mp4", np.stack(list(bar_frames(4))))
    with pytest.raises(BadVideoError, match="needs at least 5"): classify_video(model, short, spec, "cpu")
    assert classify_video(model, write_video(tmp_path / "five.mp4", np.stack(list(bar_frames(5)))), spec, "cpu").frames == 5


def test_missing_file_folder_and_bad_arguments(tmp_path, bad):
    with pytest.raises(BadVideoError, match="does not exist"): load_video(tmp_path / "nope.mp4")
    with pytest.raises(BadVideoError, match="is not a file"): load_video(tmp_path)
    with pytest.raises(ValueError, match="stride must be an int >= 1"): load_video(bad["non-ascii-name"], stride=0)
    with pytest.raises(ValueError, match="size must be"): load_video(bad["non-ascii-name"], size=(4, 0))
    x, fps = load_video(bad["non-ascii-name"], size=(24, 32), max_frames=3, stride=2)
    assert x.shape == (3, 3, 24, 32) and fps == 12.5


def test_generator_is_deterministic_across_processes(clips, tmp_path):
    "The same seed gives byte-identical files in another process (libx264: one thread, no mb-tree)."
    code = "import sys; from gpuvision_nb.video import make_videos; make_videos(sys.argv[1], n_per_class=2)"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "again")], check=True, timeout=120)
    files = sorted(p.relative_to(clips) for p in clips.rglob("*") if p.is_file())
    assert len(files) == 5 and files == sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*") if p.is_file())
    for f in files: assert (clips / f).read_bytes() == (tmp_path / "again" / f).read_bytes(), f
    rng = shape_rng(0, 1, 1)
    rendered = render_clip(random_motion(rng, 64, clockwise=False), 16, 64, 4.0, rng)
    decoded, _ = load_video(clips / "counterclockwise" / "counterclockwise_00001.mp4")
    err = (decoded.permute(0, 2, 3, 1).float() - torch.from_numpy(rendered).float()).abs().mean()
    assert err < 6, err                                          # lossy, but faithful: mostly the smoothed pixel noise


def test_reversed_motion_renders_the_frames_backwards():
    rng = np.random.default_rng(1)
    for cw in (True, False):
        m = random_motion(rng, 64, cw)
        assert np.array_equal(render_clip(m.reversed(), noise=0), render_clip(m, noise=0)[::-1])
        assert m.reversed().reversed() == m and (m.omega > 0) == cw


def test_streaming_a_long_video_holds_one_chunk(tmp_path):
    path = write_video(tmp_path / "long.mp4", bar_frames(1000))
    frame = 64 * 64 * 3
    tracemalloc.start()
    try:
        n = sum(len(c) for c in VideoReader(path, chunk=40))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = load_video(path)[0]
        peak_whole = tracemalloc.get_traced_memory()[1]
    finally: tracemalloc.stop()
    assert n == 1000 and whole.shape[0] == 1000
    assert peak < 3 * 40 * frame, peak                           # ~one chunk of 40 frames...
    assert peak_whole > 0.9 * 1000 * frame                       # ...while loading it whole holds every frame


def test_video_folder_raise_and_skip(clips, tmp_path):
    ds = VideoFolder(clips, frames=8, stride=2)
    assert ds.classes == list(VIDEO_CLASSES) and len(ds) == 4 and ds[3][0].shape == (8, 3, 64, 64) and ds[3][1] == 1
    root = tmp_path / "mixed"; shutil.copytree(clips, root)
    (root / "clockwise" / "empty.mp4").write_bytes(b"")
    with pytest.raises(BadVideoError, match="empty.mp4: is empty"): VideoFolder(root)
    skipping = VideoFolder(root, on_bad="skip")
    assert len(skipping) == 4 and skipping.skipped[0][0].name == "empty.mp4"


def test_model_shapes_order_blindness_and_flops():
    torch.manual_seed(0)
    x = torch.randn(3, 8, 3, 32, 32)
    base, temporal = video_model("perframe").eval(), video_model("framediff").eval()
    with torch.no_grad():
        assert base(x).shape == temporal(x).shape == (3, 2)
        torch.testing.assert_close(base(x), base(x.flip(1)))                 # a bag of frames: order is invisible
        assert not torch.allclose(temporal(x), temporal(x.flip(1)), atol=1e-4)
    assert temporal.windows(x).shape == (3, 6, 3, 32, 32) and temporal.min_frames == 3 and base.min_frames == 1
    assert clip_flops(temporal, 8) * 8 == clip_flops(base, 8) * 6            # same net, 6 windows vs 8 frames
    with pytest.raises(ValueError, match="at least 3 frames"): temporal(x[:, :2])
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"): base(x[0])


def test_yuv420_to_rgb_matches_ffmpeg(clips):
    with av.open(str(clips / "clockwise" / "clockwise_00000.mp4")) as c:
        pairs = [(f.to_ndarray(format="yuv420p"), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    ours = yuv420_to_rgb(torch.from_numpy(np.stack([p[0] for p in pairs]))).int()
    theirs = torch.from_numpy(np.stack([p[1] for p in pairs])).permute(0, 3, 1, 2).int()
    d = (ours - theirs).abs().float()
    assert d.mean() < 1.5 and d.quantile(0.99) <= 12             # different chroma upsampling; the same matrix


def test_writer_refuses_odd_sizes_and_leaves_no_partial_file(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 63, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no frames were written"):
        write_video(tmp_path / "none.mp4", iter([]))
    with pytest.raises(ValueError, match="differs from the first frame"):
        with VideoWriter(tmp_path / "mixed.mp4") as w: w.write(np.zeros((64, 64, 3), np.uint8)); w.write(np.zeros((32, 32, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def test_classify_video_windows_tail_and_frame_models(tmp_path):
    path = write_video(tmp_path / "300.mp4", bar_frames(300))
    spec = FrameSpec(list(VIDEO_CLASSES), clip_frames=8, stride=2)
    res = classify_video(FrameDiff(SeedCNN(2, (4, 4, 4), 8)), path, spec, "cpu", batch_size=32)   # 4 windows per chunk
    assert res.frames == len(res.frame_labels) == 300 and res.label in VIDEO_CLASSES and res.clip_model
    assert len(set(res.frame_labels[:16])) == 1                  # a window's frames share its label
    frame = classify_video(SeedCNN(10, (4, 4, 4), 8), path, FrameSpec([str(i) for i in range(10)]), "cpu", batch_size=50)
    assert frame.frames == len(frame.frame_labels) == 300 and not frame.clip_model and 0 < frame.score <= 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_nvdec_fails_cleanly_without_a_gpu(clips):
    path = clips / "clockwise" / "clockwise_00000.mp4"
    for way in ("nvdec", "cuvid"):
        with pytest.raises(DeviceUnavailableError, match="NVDEC is not available here|no h264_cuvid|no hwaccel"):
            decode_frames(path, way)
    assert all(nvdec_status(path).values())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_nvdec_decodes_every_frame_on_a_gpu(clips):
    path = clips / "clockwise" / "clockwise_00000.mp4"
    for way, why in nvdec_status(path).items():
        if why: pytest.skip(why)
        assert decode_frames(path, way) == decode_frames(path, way, rgb=False) == 16


def test_cli_video_prints_rates_and_writes_an_annotated_mp4(clips, tmp_path, gpuvision):
    saved = save_video_model(tmp_path / "model", FrameDiff(SeedCNN(2, (4, 4, 4), 8)),
                             FrameSpec(list(VIDEO_CLASSES), clip_frames=8, stride=2))
    assert load_video_model(saved, "cpu")[1].clip_frames == 8
    out = tmp_path / "sub" / "annotated.mp4"
    r = gpuvision("video", saved, clips / "clockwise" / "clockwise_00001.mp4", "--out", out, "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "frames/s" in r.stdout and "16 frames at 25 fps" in r.stdout and any(c in r.stdout for c in VIDEO_CLASSES)
    x, fps = load_video(out)
    assert x.shape == (16, 3, 256, 256) and fps == 25.0 and x[:, :, :20].float().mean() < x[:, :, 40:].float().mean()


def test_cli_video_bad_input_is_one_line_and_status_2(bad, tmp_path, gpuvision):
    saved = save_video_model(tmp_path / "model", PerFrame(SeedCNN(2, (4, 4, 4), 8)), FrameSpec(list(VIDEO_CLASSES), clip_frames=8, stride=2))
    r = gpuvision("video", saved, bad["audio-only"], "--device", "cpu")
    assert r.returncode == 2 and "audio-only.mp4: has no video stream" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stdout == ""
    r = gpuvision("video", "3dcnn", bad["non-ascii-name"])
    assert r.returncode == 2 and "model must be one of" in r.stderr and "Traceback" not in r.stderr


# ---- issue 21.1: an output that is the input; an existing output lost when the input turns out bad ----

def _frame_model():
    return SeedCNN(10, (4, 4, 4), 8), FrameSpec([str(i) for i in range(10)])


@pytest.mark.parametrize("how", ["same", "symlink", "hardlink", "dotted"])
def test_classify_video_refuses_an_out_that_is_the_input(tmp_path, how, gpuvision):
    from gpuvision_nb.files import OutputOverlapError
    src = write_video(tmp_path / "in.mp4", bar_frames(20))
    before = src.read_bytes()
    out = {"same": lambda: src, "dotted": lambda: tmp_path / "sub" / ".." / "in.mp4",
           "symlink": lambda: (tmp_path / "link.mp4").symlink_to(src) or tmp_path / "link.mp4",
           "hardlink": lambda: os.link(src, tmp_path / "hard.mp4") or tmp_path / "hard.mp4"}[how]()
    (tmp_path / "sub").mkdir(exist_ok=True)
    with pytest.raises(OutputOverlapError, match="is the input"): classify_video(*_frame_model()[:1], src, _frame_model()[1], "cpu", out=out)
    assert src.read_bytes() == before
    r = gpuvision("video", "seed", src, "--out", out, "--device", "cpu")
    assert r.returncode == 2 and "is the input" in r.stderr and "Traceback" not in r.stderr and src.read_bytes() == before


def test_cli_video_shows_progress_when_a_pretrained_model_is_made(clips, gpuvision, monkeypatch):
    "A pretrained model missing from the cache is trained first (minutes): `gpuvision video` asks for its progress bar."
    import gpuvision_nb.video as video
    from gpuvision_nb.models import get_model
    asked = []                                   # an untrained stand-in: the real one trains for minutes on an empty cache
    monkeypatch.setattr(video, "pretrained", lambda name, dev, progress=False: asked.append(progress) or (get_model(name, 10).to(dev).eval(), None))
    r = gpuvision("video", "seed", clips / "clockwise" / "clockwise_00001.mp4", "--device", "cpu")
    assert r.returncode == 0 and asked == [True], r.stderr


@pytest.mark.parametrize("case", ["garbage-data", "truncated-faststart"])
def test_an_existing_out_survives_a_bad_input(bad, tmp_path, case):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"the user's earlier video")
    model, spec = _frame_model()
    with pytest.raises(BadVideoError): classify_video(model, bad[case], spec, "cpu", batch_size=4, out=out)
    assert out.read_bytes() == b"the user's earlier video" and sorted(tmp_path.iterdir()) == [out]   # no temporary file left


def test_an_existing_out_is_replaced_only_when_complete(tmp_path):
    src, out = write_video(tmp_path / "in.mp4", bar_frames(20)), tmp_path / "out.mp4"
    out.write_bytes(b"old")
    model, spec = _frame_model()
    res = classify_video(model, src, spec, "cpu", batch_size=8, out=out)
    assert res.out == out and load_video(out)[0].shape[0] == 20 and sorted(tmp_path.iterdir()) == [src, out]
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)                       # not the temporary file's private mode


@linux_tags
def test_a_video_half_written_by_a_killed_process_is_removed_by_the_next_writer(tmp_path):
    from gpuvision_nb.files import host_tag
    left = tmp_path / f".v.mp4.{host_tag()}@{dead_process_tag()}.0123abcd.tmp"
    left.write_bytes(b"half a video")
    write_video(tmp_path / "v.mp4", bar_frames(4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_a_video_is_on_the_disk_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    "VideoWriter renamed its file into place unflushed: after a power cut, `out` (the old video gone) could be empty."
    import gpuvision_nb.files as B
    events, real = [], os.replace
    monkeypatch.setattr(B, "fsync_path", lambda p: events.append(("fsync", Path(p))))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", Path(b))) or real(a, b))
    out = write_video(tmp_path / "v.mp4", bar_frames(4))
    (first, tmp), *rest = events
    assert first == "fsync" and tmp.parent == tmp_path and tmp.name.startswith(".v.mp4.")
    assert rest == [("replace", out), ("fsync", tmp_path)]


@pytest.mark.parametrize("arch", ["perframe", "framediff"])
def test_pretrained_clip_models_are_shipped_and_load_without_training(arch, tmp_path, monkeypatch):
    "Both clip models ship in gpuvision_nb/pretrained/ under today's recipe key and load from an empty cache, untrained."
    import gpuvision_nb.video as V
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    monkeypatch.setattr(V, "train_video_model", lambda *a, **k: pytest.fail(f"pretrained_video({arch!r}) trained instead of loading the shipped copy"))
    shipped = V.shipped_copy(V.pretrained_video_dir(arch))
    assert shipped.parent.name == "pretrained" and shipped.name.startswith(f"video-{arch}-")
    assert V.latest_checkpoint(shipped) is not None, "stale: run tools/bundle_pretrained.py"
    model, spec, hist = V.pretrained_video(arch, device="cpu")
    assert type(model) is V.VIDEO_ARCHS[arch] and len(hist) == V.VIDEO_RECIPE["epochs"]
    assert spec.clip_frames == V.VIDEO_RECIPE["frames"] // V.VIDEO_RECIPE["stride"] and spec.classes == list(VIDEO_CLASSES)
    assert not (tmp_path / "pretrained").exists()          # read in place: nothing copied into the cache
    if arch == "framediff": assert hist.final["val_acc"] > 0.9    # the model that sees motion learned the task


def test_a_cached_clip_model_wins_over_the_shipped_copy(tmp_path, monkeypatch):
    "A model in the cache (e.g. trained by the user under the same key) is the one loaded."
    import gpuvision_nb.video as V
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    d = V.pretrained_video_dir("perframe")
    mine = video_model("perframe", 2, V.VIDEO_RECIPE["widths"], V.VIDEO_RECIPE["hidden"])
    save_video_model(d, mine, V._recipe_spec(V.VIDEO_RECIPE), history=[])
    model, _, hist = V.pretrained_video("perframe", device="cpu")
    assert len(hist) == 0 and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), mine.state_dict().values()))


def test_bar_frames_draw_a_bar_an_eighth_of_the_width_moving_two_pixels_a_frame():
    for size in (8, 64):
        frames = list(bar_frames(3, size))
        assert all(f.shape == (size, size, 3) and f.dtype == np.uint8 for f in frames)
        for i, f in enumerate(frames):
            cols = np.flatnonzero(f[size // 4, :, 0] == 255)
            assert cols.tolist() == list(range(2 * i, 2 * i + max(size // 8, 1)))
            assert (f[: size // 4, :, 0] == 0).all() and (f[..., 2] == 96).all()


def test_open_video_names_a_missing_file_and_a_folder(tmp_path):
    from gpuvision_nb.videofile import open_video
    with pytest.raises(BadVideoError, match="does not exist"): open_video(tmp_path / "nope.mp4")
    with pytest.raises(BadVideoError, match="is not a file"): open_video(tmp_path)


def test_bad_videos_are_named_by_case_and_the_same_every_time(bad, tmp_path):
    assert {c: p.name for c, p in bad.items()} == {
        "zero-byte": "zero.mp4", "text-as-mp4": "not a video.mp4", "truncated": "truncated.mp4",
        "truncated-faststart": "truncated-faststart.mp4", "audio-only": "audio-only.mp4", "no-decodable-frames": "no-keyframe.mp4",
        "garbage-data": "garbage.mp4", "one-frame": "one-frame.mp4", "huge-header": "huge.y4m", "variable-frame-rate": "vfr.mp4",
        "unsupported-codec": "unknown-codec.mp4", "non-ascii-name": "ünïcødé 視頻 clip.mp4"}
    again = write_bad_videos(tmp_path / "again")
    assert all(again[c].read_bytes() == bad[c].read_bytes() for c in ("garbage-data", "truncated", "huge-header", "zero-byte"))


def test_a_finished_video_gets_the_usual_file_mode_and_no_temporary_is_left(tmp_path):
    old = os.umask(0o022)
    try: path = write_video(tmp_path / "clip.mp4", bar_frames(4))
    finally: os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644                 # what any new file gets under umask 022, not 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_temporary_names_are_hidden_random_and_beside_the_output(tmp_path):
    from gpuvision_nb.videofile import _temp_beside
    a, b = _temp_beside(tmp_path / "out.mp4"), _temp_beside(tmp_path / "out.mp4")
    assert a != b and a.parent == tmp_path and all(re.fullmatch(r"\.out\.mp4\.([\w.-]+@\d+-\d+-\d+\.)?[0-9a-f]{8}\.tmp", p.name) for p in (a, b))


def test_a_missing_video_is_named(tmp_path):
    from gpuvision_nb.videofile import open_video
    with pytest.raises(BadVideoError, match=re.escape(str(tmp_path / "gone.mp4"))): open_video(tmp_path / "gone.mp4")


# --- what the mutation run of video (tools/mutate.py video) found untested ---------------------------------------------

def test_bad_arguments_are_named(clips, tmp_path):
    for kw, msg in ((dict(n_per_class=0), "n_per_class must be an int >= 1"), (dict(frames=1), "frames must be an int >= 2"),
                    (dict(size=8), "size must be an int >= 16"), (dict(fps=0), "fps must be an int >= 1"),
                    (dict(size=33), "size must be even")):
        with pytest.raises(ValueError, match=msg): make_videos(tmp_path / "v", **kw)
    with pytest.raises(ValueError, match="VideoFolder: stride must be an int >= 1"): VideoFolder(clips, stride=0)
    with pytest.raises(ValueError, match="classify_video: batch_size must be an int >= 1"):
        classify_video(*_frame_model()[:1], clips / "clockwise" / "clockwise_00000.mp4", _frame_model()[1], "cpu", batch_size=0)
    with pytest.raises(ValueError, match=r"PerFrame expects a batch of clips .*got list"): video_model("perframe")([1, 2])
    assert not (tmp_path / "v").exists()


def test_the_data_set_records_how_it_was_made(tmp_path):
    "videos.json beside the clips: the arguments, readable by a person (one per line) and by json."
    text = (make_videos(tmp_path / "v", n_per_class=1, frames=2, size=16) / "videos.json").read_text(encoding="utf-8")
    params = json.loads(text)
    assert params["n_per_class"] == 1 and params["frames"] == 2 and params["classes"] == list(VIDEO_CLASSES)
    assert len(text.splitlines()) > len(params)


def test_video_root_is_one_folder_per_data_set(tmp_path, monkeypatch):
    "Different arguments (fps, a knob such as noise) give different cache folders; the same ones the same folder, made once."
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    a = video_root(1, 2, 16, fps=25)
    assert video_root(1, 2, 16, fps=25) == a and len({a, video_root(1, 2, 16, fps=30), video_root(1, 2, 16, noise=0.0)}) == 3
    assert json.loads((video_root(1, 2, 16, fps=30) / "videos.json").read_text())["fps"] == 30


def test_the_background_is_a_gradient_from_bg_to_bg2_across_the_frame():
    m = replace(random_motion(np.random.default_rng(3)), bg=(40, 100, 200), bg2=(200, 20, 60))
    img = render_clip(replace(m, r=1e-3), frames=1, noise=0)[0].reshape(-1, 3).astype(float)    # the shape too small to see
    np.testing.assert_allclose(img.mean(0), (np.array(m.bg) + m.bg2) / 2, atol=4)      # centred: half of each, on average
    assert np.abs(img[None] - np.array([m.bg, m.bg2])[:, None]).sum(2).min(1).max() <= 12     # both ends are reached


def test_annotation_text_grows_with_the_frame():
    "The label is drawn in a font about 1/14 of the frame's height, readable at any size (not the tiny fixed bitmap font)."
    from gpuvision_nb.video import annotate_frames
    out = annotate_frames(torch.zeros(1, 3, 64, 64, dtype=torch.uint8), ["clockwise 0.99"], min_side=512)
    rows = np.nonzero((out[0] > 128).any(axis=(1, 2)))[0]
    assert out.shape == (1, 512, 512, 3) and rows.max() - rows.min() >= 512 // 14 // 2, rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_nvdec_without_a_gpu_says_why(clips):
    "PyAV with a hwaccel API: NVDEC itself is missing, not the API."
    import av.codec
    has_api = getattr(getattr(av.codec, "hwaccel", None), "HWAccel", None) is not None
    with pytest.raises(DeviceUnavailableError, match="NVDEC is not available here" if has_api else "has no hwaccel API"):
        decode_frames(clips / "clockwise" / "clockwise_00000.mp4", "nvdec")


def test_load_video_model_picks_the_device_by_default(tmp_path):
    saved = save_video_model(tmp_path / "m", PerFrame(SeedCNN(2, (4, 4, 4), 8)), FrameSpec(list(VIDEO_CLASSES)))
    model, spec = load_video_model(saved)
    assert next(model.parameters()).device.type == get_device("auto").type and spec.classes == list(VIDEO_CLASSES)


def test_a_pretrained_clip_model_trained_on_a_cache_miss_is_cached(tmp_path, monkeypatch):
    "No cached and no shipped copy: it is trained (here on 10 tiny clips), saved, and the next call loads it."
    import gpuvision_nb.video as V
    monkeypatch.setenv("GPUVISION_CACHE", str(tmp_path))
    monkeypatch.setattr(V, "shipped_copy", lambda d: tmp_path / "not-shipped")
    clips = make_videos(tmp_path / "clips", n_per_class=5, frames=8, size=16)
    train, val, classes = V.video_loaders(clips, frames=4, stride=2, size=32, batch_size=4, device="cpu")
    assert classes == list(VIDEO_CLASSES) and next(iter(train))[0].shape == (4, 4, 3, 32, 32) and len(val) == 1
    model, spec, hist = V.pretrained_video("perframe", "cpu", loaders=(train, val))
    monkeypatch.setattr(V, "train_video_model", lambda *a, **k: pytest.fail("trained again"))
    again, spec2, hist2 = V.pretrained_video("perframe", "cpu")
    assert spec2 == spec and len(hist2) == len(hist) == V.VIDEO_RECIPE["epochs"]
    for p, q in zip(model.parameters(), again.parameters()): assert torch.equal(p, q)


def test_the_recipe_trains_on_the_recipes_data_set(monkeypatch):
    "A cache miss trains on 300 clips per class of 16 frames, 64×64 at 25 fps (the data set the shipped models saw)."
    import gpuvision_nb.video as V
    asked = []
    class Made(Exception): pass
    def root(*a, **k): asked.append((a, k)); raise Made
    monkeypatch.setattr(V, "video_root", root)
    with pytest.raises(Made): V._recipe_loaders(V.VIDEO_RECIPE, "cpu")
    assert asked == [((300, 16, 64, 25, 0), {})]


def test_resize_frames_and_clip_tensors(clips):
    from gpuvision_nb.video import clip_tensors, resize_frames
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(1, 2, 3, 4, 4)
    small = resize_frames(x, 2)
    assert small.shape == (1, 2, 3, 2, 2) and small.dtype == torch.uint8
    assert small[0, 0, 0, 0, 0] == round((0 + 1 + 4 + 5) / 4)              # area averaging, rounded
    for bad in (x.float(), x[:, :, :2], x[0, 0]):
        with pytest.raises(ValueError, match="resize_frames: expected uint8 frames"): resize_frames(bad, 2)
    xs, ys = clip_tensors(VideoFolder(clips, frames=4), 32, "cpu")
    assert xs.shape == (4, 4, 3, 32, 32) and ys.tolist() == [0, 0, 1, 1]


def test_pipeline_timings_on_the_cpu(clips):
    from gpuvision_nb.video import pipeline_timings
    ts = pipeline_timings(clips / "clockwise" / "clockwise_00000.mp4", {"perframe": video_model("perframe", widths=(4, 4, 4), hidden=8)},
                          "cpu", batch=16, clip_frames=8, threads=(1,), min_run_time=0.01)
    assert [t.label for t in ts] == ["decode cpu ×1 → RGB", "decode cpu ×1 → YUV", "YUV→RGB + resize 32 + normalise", "model · perframe"]
    assert all(t.items == 16 and t.unit == "frame" and t.rate > 0 for t in ts)


def test_random_motions_vary_in_every_direction():
    "Over many clips, the background gradient points every way and its second colour is lighter or darker than the first."
    ms = [random_motion(np.random.default_rng(i)) for i in range(200)]
    g = np.array([m.gradient for m in ms])
    assert g.min() < 0.5 and g.max() > 2 * np.pi - 0.5
    d = np.array([np.subtract(m.bg2, m.bg) for m in ms])
    assert (d < -20).any() and (d > 20).any()


def test_clip_loader_refuses_what_is_not_uint8_clips():
    for x in (torch.zeros(2, 4, 3, 8, 8), torch.zeros(2, 4, 8, 8, dtype=torch.uint8), torch.zeros(2, 4, 1, 8, 8, dtype=torch.uint8)):
        with pytest.raises(TypeError, match="ClipLoader: x must be uint8 clips"): ClipLoader(x, torch.zeros(2), device="cpu")


def test_video_loaders_name_a_split_left_empty_by_too_few_clips(tmp_path):
    "Two clips per class leave an 80/20 split's validation part empty: one error naming the folder, not an unpacking error."
    from gpuvision_nb.data import DatasetError
    from gpuvision_nb.video import clip_tensors, make_videos, video_loaders
    make_videos(tmp_path / "few", n_per_class=2, frames=8, size=32)
    with pytest.raises(DatasetError, match=r"video_loaders: the \d+ clips under .*few leave the validation part of an "
                                           r"80/20 split empty; add clips to each class folder"):
        video_loaders(tmp_path / "few", frames=4, stride=2, size=16, device="cpu")
    with pytest.raises(DatasetError, match="clip_tensors: the clip data set is empty"): clip_tensors([])


def test_video_folder_takes_no_mac_litter_and_refuses_classes_differing_by_case(clips, tmp_path):
    root = tmp_path / "unzipped"; shutil.copytree(clips, root)
    first = VIDEO_CLASSES[0]
    (root / first / "._a.mp4").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X" + bytes(60))   # AppleDouble
    shutil.copytree(root / first, root / "__MACOSX" / first)                  # an unzipped Mac archive's resource forks
    ds = VideoFolder(root)
    assert ds.classes == list(VIDEO_CLASSES) and len(ds) == 4
    shutil.copytree(clips / first, root / first.upper())
    with pytest.raises(DatasetError, match="differ only by case"): VideoFolder(root)


@pytest.mark.parametrize("keep", [8, 100, 200, 400])
def test_an_mp4_cut_inside_its_index_is_called_truncated_not_audio_only_or_unsupported(tmp_path, keep):
    "An MP4 whose 'moov' index (written last) is cut off — an interrupted copy — said 'has no video stream' or 'can't decode'."
    whole = write_video(tmp_path / "whole.mp4", bar_frames(10)).read_bytes()
    cut = tmp_path / "cut.mp4"; cut.write_bytes(whole[:whole.index(b"moov") + keep])
    with pytest.raises(BadVideoError, match=r"cut\.mp4: is truncated: its 'moov' box at byte [\d,]+ declares [\d,]+ bytes"):
        load_video(cut)


# --- what the mutation run of videofile (tools/mutate.py videofile, seed 211) found untested --------------------------

def _keyframes(path) -> list[int]:
    "Indices of the keyframes of `path`'s video stream, in decode order."
    with av.open(str(path)) as c:
        return [i for i, p in enumerate(p for p in c.demux(video=0) if p.size) if p.is_keyframe]


def test_a_fixed_gop_puts_keyframes_exactly_every_gop_frames_even_across_a_scene_cut(tmp_path):
    "gop=8: keyframes at 0 and 8 only; the cut from black to noise at frame 5 gets none (scene-cut detection off)."
    from gpuvision_nb.videofile import write_video
    frames = np.zeros((16, 32, 32, 3), np.uint8)
    frames[5:] = np.random.default_rng(0).integers(0, 256, (11, 32, 32, 3), dtype=np.uint8)
    assert _keyframes(write_video(tmp_path / "g.mp4", frames, gop=8)) == [0, 8]


def test_open_video_reports_the_header(tmp_path):
    from gpuvision_nb.videofile import open_video, write_video
    f = write_video(tmp_path / "wide.mp4", np.stack(list(bar_frames(6, 32)))[:, :16], fps=12)    # 32 wide, 16 high
    c, s, info = open_video(f)
    c.close()
    assert (info.path, info.codec, info.width, info.height, info.fps, info.frames, info.pix_fmt) == \
        (f, "h264", 32, 16, 12.0, 6, "yuv420p")


def test_the_writers_default_quality_is_crf_23(tmp_path):
    "Deterministic encoding: the default gives the very bytes of crf=23, and another crf gives others."
    from gpuvision_nb.videofile import write_video
    frames = np.stack(list(bar_frames(6, 32)))
    default = write_video(tmp_path / "d.mp4", frames).read_bytes()
    assert default == write_video(tmp_path / "c23.mp4", frames, crf=23).read_bytes()
    assert default != write_video(tmp_path / "c24.mp4", frames, crf=24).read_bytes()


def test_bad_videos_can_be_written_into_a_new_nested_folder(tmp_path):
    made = write_bad_videos(tmp_path / "a" / "b", size=32)
    assert all(p.parent == tmp_path / "a" / "b" and p.is_file() for p in made.values())


def test_a_frame_of_another_size_is_named_width_by_height(tmp_path):
    from gpuvision_nb.videofile import VideoWriter
    with pytest.raises(ValueError) as e:
        with VideoWriter(tmp_path / "v.mp4") as w:
            w.write(np.zeros((32, 16, 3), np.uint8)); w.write(np.zeros((8, 24, 3), np.uint8))
    assert str(e.value) == "VideoWriter.write: frame size 24×8 differs from the first frame's 16×32"
    assert list(tmp_path.iterdir()) == []                               # nothing left behind


# ---- tools/mutate.py video --sample 25 --seed 702: survivors killed --------------------------------------------
def test_nvdec_status_gives_each_ways_own_reason(monkeypatch):
    "mutmut: status[way] = str(e) → str(None) survived (every reason read 'None'; decode_frames stubbed)."
    import gpuvision_nb.video as V
    def decode(path, way): raise DeviceUnavailableError(f"no {way} here")
    monkeypatch.setattr(V, "decode_frames", decode)
    assert V.nvdec_status("any.mp4") == {"nvdec": "no nvdec here", "cuvid": "no cuvid here"}


def test_yuv420_to_rgb_saturates_colours_beyond_the_rgb_cube():
    """Studio white with full red chroma is R = 255 + 1.402·145 ≈ 458 before the clamp: it must read 255, not wrap
    (mutmut: clamp_(0, 255) → clamp_(0) survived; the clips' colours stay inside the cube)."""
    h, w = 4, 4
    yuv = torch.cat([torch.full((1, h, w), 235), torch.full((1, h // 2, w), 128)], 1).to(torch.uint8)
    yuv[:, h + h // 4:] = 255                                      # the V plane: the last quarter-frame
    rgb = yuv420_to_rgb(yuv)
    assert rgb[:, 0].eq(255).all() and rgb[:, 2].eq(255).all()     # R over-driven; B = Y = white


def test_video_loaders_split_with_the_seed_given(clips, monkeypatch):
    "mutmut: split(ds, (0.8, 0.2), seed=seed) → without the seed survived (the split stubbed: the seed it gets is checked)."
    import gpuvision_nb.video as V
    class Stop(Exception): pass
    seeds = []
    def split(ds, fractions, seed=0): seeds.append(seed); raise Stop
    monkeypatch.setattr(V, "split", split)
    with pytest.raises(Stop): V.video_loaders(clips, frames=4, stride=2, size=16, device="cpu", seed=5)
    assert seeds == [5]


def test_video_reader_names_itself_for_a_bad_min_frames(tmp_path):
    "mutmut: the who of min_frames' check 'VideoReader' → None survived (the error began 'None:')."
    with pytest.raises(ValueError, match="^VideoReader: min_frames must be an int >= 1, got 0$"):
        VideoReader(tmp_path / "v.mp4", min_frames=0)


# --- survivors of tools/mutate.py videofile --sample 25 --seed 908 ------------------------------------------------------

def _box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    "One ISO media box: its 4-byte size (default: the true one), its type, its payload."
    return (len(payload) + 8 if size is None else size).to_bytes(4, "big") + kind + payload


def _top_boxes(path) -> list[bytes]:
    "The types of the top-level boxes of MP4 file `path`, in file order."
    data, off, kinds = Path(path).read_bytes(), 0, []
    while off + 8 <= len(data):
        n = int.from_bytes(data[off:off + 4], "big"); kinds.append(data[off + 4:off + 8])
        off += int.from_bytes(data[off + 8:off + 16], "big") if n == 1 else n
    return kinds


def test_mp4_truncation_reads_a_last_box_that_runs_to_the_end_and_counts_the_missing_bytes(tmp_path):
    "A size of 0 means 'to the end of the file' (ISO 14496-12): complete. A cut box: the bytes it has left are counted."
    from gpuvision_nb.videofile import mp4_truncation
    head = _box(b"ftyp", b"isom" + bytes(4)) + _box(b"moov", bytes(8))            # 16 + 16 bytes
    (tmp_path / "open-ended.mp4").write_bytes(head + _box(b"mdat", bytes(100), size=0))
    assert mp4_truncation(tmp_path / "open-ended.mp4") is None
    (tmp_path / "cut.mp4").write_bytes(head + _box(b"mdat", bytes(92), size=1000))   # 100 of its 1,000 bytes
    assert mp4_truncation(tmp_path / "cut.mp4") == ("is truncated: its 'mdat' box at byte 32 declares 1,000 bytes, but the "
                                                    "file ends 100 bytes later (an interrupted copy or download?)")


def test_faststart_puts_the_index_before_the_frames(tmp_path):
    "faststart=True: 'moov' before 'mdat' (a browser plays it while it downloads); without it, after."
    from gpuvision_nb.videofile import write_video
    frames = np.stack(list(bar_frames(4, 16)))
    order = lambda p: [k for k in _top_boxes(p) if k in (b"moov", b"mdat")]
    assert order(write_video(tmp_path / "fast.mp4", frames, faststart=True)) == [b"moov", b"mdat"]
    assert order(write_video(tmp_path / "plain.mp4", frames)) == [b"mdat", b"moov"]


def test_the_variable_frame_rate_case_drops_frames_of_a_25_fps_clip(tmp_path):
    """vfr.mp4's 16 frames lie on a 25 fps grid with gaps of 2 and 3 periods (dropped frames): 0, 40, 80, 160 ms, … 760 ms.
    Its own write_bad_videos, not the module's `bad`: mutmut charges a module fixture's work to the first test only."""
    with av.open(str(write_bad_videos(tmp_path)["variable-frame-rate"])) as c:
        s = c.streams.video[0]
        ms = [round(1000 * float(f.pts * f.time_base)) for f in c.decode(s)]
    assert ms == [40 * k for k in (0, 1, 2, 4, 5, 6, 9, 10, 11, 12, 14, 15, 16, 17, 18, 19)]


def test_open_video_names_a_declared_frame_size_of_zero(tmp_path, monkeypatch):
    "A header declaring 0×16 frames (FFmpeg's demuxers refuse most such files first): refused naming the file and the size."
    import types
    from gpuvision_nb import videofile
    closed = []
    cc = types.SimpleNamespace(codec=object(), width=0, height=16, name="rawvideo")
    fake = types.SimpleNamespace(streams=types.SimpleNamespace(video=[types.SimpleNamespace(codec_context=cc)]),
                                 close=lambda: closed.append(True))
    monkeypatch.setattr(videofile.av, "open", lambda *a, **k: fake)
    (tmp_path / "zero.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(60))
    with pytest.raises(BadVideoError) as e: videofile.open_video(tmp_path / "zero.mkv")
    assert str(e.value) == f"{tmp_path / 'zero.mkv'}: declares an invalid frame size 0×16" and closed == [True]


# ---- newuser: `gpuvision video` refused the model a user had just trained on their own images ----

@pytest.mark.parametrize("in_channels", [3, 1])
def test_video_takes_a_trained_or_exported_image_model(tmp_path, gpuvision, in_channels):
    """`gpuvision video runs/photos clip.mp4` said "runs/photos is not a checkpoint: manifest.json is missing": only
    the course's shapes models and clip-model folders were accepted, not the run folder or exported model that
    `predict` and `export` take. Such a model now labels every frame, given exactly the input `predict` gives it for
    the same picture (its channels and normalisation: grey models included; a frame that is not square cropped to its
    centre square, not squeezed), and the command prints its classes."""
    from gpuvision_nb.deploy import Preprocess, load_model, save_model
    from gpuvision_nb.video import _prepare
    torch.manual_seed(0)
    prep = Preprocess(16, MEAN_STD[in_channels][0], MEAN_STD[in_channels][1], in_channels, ("dark", "light"))
    path = save_model(SeedCNN(2, (4, 4, 4), 8, in_channels=in_channels, size=16).eval(), tmp_path / "mine.safetensors", prep)
    wide = [np.concatenate([f, f[:, ::-1]], axis=1) for f in bar_frames(6, 16)]     # 16×32: predict keeps the centre 16×16
    clip = write_video(tmp_path / "clip.mp4", np.stack(wide))
    frames = load_video(clip)[0]                                      # uint8 (6, 3, 16, 32)
    model, spec = load_video_model(path, "cpu")
    net, _ = load_model(path, "cpu")
    assert spec.classes == ["dark", "light"] and spec.size == 16 and spec.clip_frames is None
    with torch.no_grad():
        got, want = model(_prepare(frames, spec.size, spec.mean, spec.std)), net(prep(frames))
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)      # the same pixels, normalised the same way
    r = gpuvision("video", path, clip, "--device", "cpu")
    assert r.returncode == 0 and "6 frames at 25 fps" in r.stdout and ("dark" in r.stdout or "light" in r.stdout), r.stderr
    r = gpuvision("video", tmp_path / "no-run", clip, "--device", "cpu")
    assert r.returncode == 2 and "a run folder of gpuvision train" in r.stderr and "Traceback" not in r.stderr, r.stderr


MEAN_STD = {3: ((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)), 1: ((0.45,), (0.22,))}


def test_frames_that_are_not_square_keep_their_centre_square():
    """A 16:9 video was squeezed to a square before the model saw it, while training and `predict` keep the centre
    square of a photo: an image model saw other pixels in a video than in the same picture as a photo."""
    from gpuvision_nb.video import resize_frames
    x = torch.zeros(1, 3, 4, 8, dtype=torch.uint8)
    x[..., 2:6] = 100                                                     # the centre square; black on both sides
    assert resize_frames(x, 2).eq(100).all() and resize_frames(x.transpose(-1, -2), 2).eq(100).all()


# ---- tools/mutate.py video --sample 25 --seed 916: the survivors, each killed ------------------------------------
def test_a_frame_size_of_one_pixel_is_allowed():
    "mutmut: the bound `v < 1` → `v < 2` survived: a 1-pixel side is a positive int like any other."
    from gpuvision_nb.video import _frame_size
    assert _frame_size(1) == (1, 1) and _frame_size((1, 3)) == (1, 3)
    with pytest.raises(ValueError, match="pair of positive ints, got 0"): _frame_size(0)


def test_the_cuvid_path_decodes_every_frame_through_a_stand_in_decoder(clips, monkeypatch):
    """decode_frames(way='cuvid') needs an NVIDIA GPU; its logic — a `<codec>_cuvid` decoder opened for reading, fed
    the demuxed packets — runs here with FFmpeg's software decoder standing in for it (mutmut: the mode 'r' dropped,
    and `ctx.decode(packet)` → `ctx.decode(None)`, survived: no test took the path)."""
    real, opened = av.CodecContext.create, []
    def create(name, mode):
        opened.append((name, mode)); return real(name.removesuffix("_cuvid"), mode)
    monkeypatch.setattr(av.CodecContext, "create", create)
    path = clips / "clockwise" / "clockwise_00000.mp4"
    assert decode_frames(path, "cuvid") == decode_frames(path, "cpu") == 16 and opened == [("h264_cuvid", "r")]


def test_random_motion_shades_each_channel_of_the_background_on_its_own():
    "mutmut: bg2 = bg + one shift for all three channels (a grey shift only) survived; each channel draws its own."
    from gpuvision_nb.video import random_motion
    motions = [random_motion(np.random.default_rng(s)) for s in range(20)]
    shifts = [np.subtract(m.bg2, m.bg) for m in motions if 0 < min(m.bg2) and max(m.bg2) < 255]     # none clipped
    assert len(shifts) >= 5 and all(len(set(d.tolist())) > 1 for d in shifts) and all(abs(d).max() <= 60 for d in shifts)


def test_video_loaders_put_the_clips_on_the_device_asked_for(tmp_path, auto_is_unavailable):
    "mutmut: ClipLoader without device=dev ('auto': GPUVISION_DEVICE or the GPU, not the device asked for) survived."
    import gpuvision_nb.video as V
    clips = make_videos(tmp_path / "clips", n_per_class=5, frames=4, size=16)
    train, val, _ = V.video_loaders(clips, frames=2, stride=2, size=16, batch_size=4, device="cpu")
    assert next(iter(train))[0].device.type == next(iter(val))[0].device.type == "cpu"


def test_too_few_frames_with_a_stride_says_which_share_was_kept(tmp_path):
    "mutmut: the '(1 in STRIDE of DECODED)' detail shown from stride 3 on only (> 1 → > 2) survived."
    from gpuvision_nb.video import VideoReader
    path = write_video(tmp_path / "ten.mp4", bar_frames(10))
    with pytest.raises(BadVideoError, match=re.escape("has only 5 frame(s) (1 in 2 of 10); at least 6 are needed")):
        list(VideoReader(path, stride=2, min_frames=6))
    with pytest.raises(BadVideoError, match=re.escape("has only 10 frame(s); at least 11 are needed")):
        list(VideoReader(path, min_frames=11))
