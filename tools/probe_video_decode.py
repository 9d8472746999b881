"""Probe: H.264 decode throughput with PyAV on the CPU (1 and N threads) and, where the machine offers it, NVDEC
(PyAV's `hwaccel=cuda`, and the `h264_cuvid` decoder). Writes one JSON object (frames/s per way, errors as text).

    python tools/probe_video_decode.py OUT.json [--frames 600] [--size 256]

A lead for the video chapter (issue 16), run once on the lent GPU machine; the chapter's own code makes the records.
"""
import json, os, sys, time, platform, argparse
import numpy as np
import av


def make_clip(path, frames, size, fps=25):
    "A moving-bar H.264 clip (libx264, yuv420p) of `frames` frames, `size`x`size`."
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps); s.width = s.height = size; s.pix_fmt = "yuv420p"
        xs = np.arange(size)
        for i in range(frames):
            img = np.zeros((size, size, 3), np.uint8)
            img[..., 1] = ((xs[None, :] + 3 * i) % 256).astype(np.uint8)
            x = (5 * i) % size; img[size // 4: size // 2, x: x + size // 8, 0] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")): c.mux(p)
        for p in s.encode(): c.mux(p)


def decode(path, threads=None, hwaccel=None, codec=None, to_rgb=True):
    "Decode every frame; returns (frames, seconds, codec name actually used)."
    kw = {"hwaccel": av.codec.hwaccel.HWAccel(device_type=hwaccel, allow_software_fallback=False)} if hwaccel else {}
    t0 = time.perf_counter(); n = 0
    with av.open(path, **kw) as c:
        vs = c.streams.video[0]
        if threads is not None:
            vs.thread_type = "AUTO"; vs.codec_context.thread_count = threads
        if codec:
            ctx = av.CodecContext.create(codec, "r"); ctx.extradata = vs.codec_context.extradata
            for pkt in c.demux(vs):             # demux ends with an empty packet that flushes the decoder; a second
                for f in ctx.decode(pkt):           # flush (ctx.decode(None)) is what raised EOFError on 2026-11-28
                    if to_rgb: f.to_ndarray(format="rgb24")
                    n += 1
            name = ctx.name
        else:
            for f in c.decode(vs):
                if to_rgb: f.to_ndarray(format="rgb24")
                n += 1
            name = vs.codec_context.name
    return n, time.perf_counter() - t0, name


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("out"); ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", type=int, default=256); a = ap.parse_args()
    path = "/tmp/probe-clip.mp4"
    res = {"av": av.__version__, "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
           "frames": a.frames, "size": a.size, "hwdevices": list(av.codec.hwaccel.hwdevices_available()), "ways": {}}
    t0 = time.perf_counter(); make_clip(path, a.frames, a.size); res["encode_s"] = round(time.perf_counter() - t0, 3)
    ways = {"cpu 1 thread": dict(threads=1), f"cpu {os.cpu_count()} threads": dict(threads=0),
            "cpu 1 thread, no rgb": dict(threads=1, to_rgb=False),
            "hwaccel cuda": dict(hwaccel="cuda"), "hwaccel cuda, no rgb": dict(hwaccel="cuda", to_rgb=False),
            "h264_cuvid": dict(codec="h264_cuvid"), "h264_cuvid, no rgb": dict(codec="h264_cuvid", to_rgb=False)}
    for name, kw in ways.items():
        try:
            decode(path, **kw)                                  # warm-up (driver/context start-up)
            runs = [decode(path, **kw) for _ in range(3)]
            n, _, used = runs[0]
            secs = sorted(r[1] for r in runs)[1]
            res["ways"][name] = {"frames": n, "median_s": round(secs, 4), "fps": round(n / secs, 1), "codec": used}
        except Exception as e:
            res["ways"][name] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
        print(name, res["ways"][name], flush=True)
    json.dump(res, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
