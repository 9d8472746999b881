"""Evidence, not prose (issue 14): no committed notebook, README or docs page states a GPU figure that no record or
prediction backs; the results chapter's headline rows and charts compare like with like. The rule and its marker
convention are documented in tools/check_evidence.py."""
import importlib.util, json
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import pytest

from gpuvision_nb.bench import Record, Timing
from gpuvision_nb.device import DATASHEET, predict_rate
from conftest import overlapping_labels
from gpuvision_nb.report import best_by_device, headline_chart, headline_charts, headline_rows, predict_timing, prediction_rows

ROOT = Path(__file__).resolve().parents[1]


def _tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return mod


ev = _tool("check_evidence")

# Findings the owners of those cells are rewriting (chapter endings belong to the course helper): listed here, with
# the reason, so that the rest is enforced now. The lead empties this at merge time.
PENDING = {("07_amp.ipynb", "~20–60 s compile"): "Summary table of chapter 07 (course helper's rewrite)"}


def _unexpected(findings):
    return [f for f in findings if not any(f.where.startswith(nb) and snip in f.text for nb, snip in PENDING)]


# --- the rule catches what issue 14 found, in the words the chapters used ---------------------------------------------

ISSUE_PROSE = [
    "A data-centre GPU trains the same network at tens of thousands of images per second or more.",
    'So the GPU would wait for data most of the time — it starves, and `nvidia-smi` shows 20 % utilisation on a "GPU job".',
    "The GPU-resident loader makes a batch in a few kernel launches, so it delivers hundreds of thousands to millions of "
    "images per second.",
    "On a GPU the contrast is brutal — the batched step runs hundreds of times faster.",
    "The price is compile time — about 20 s for our CNN on this CPU, before the first step.",
    "Do not assume it is faster: on a recent data-centre GPU a 4096×4096 fp16 layer can even run *slower* in 2:4 form than dense.",
    "A GPU already has low-precision tensor cores: cast the model to bf16 or fp16 and it runs at a multiple of the fp32 speed.",
    "One GPU trains the seed CNN at a few hundred thousand images per second.",
    "What decides the efficiency is the ratio of compute to communication — and a GPU shrinks the compute by two or three "
    "orders of magnitude while the gradients stay 17 MB.",
    "On NVIDIA datacenter GPUs the bf16/fp16 tensor-core peak is several times the tf32 one, which is several times the "
    "plain fp32 one.",
    "A GPU that sustains 50 TFLOP/s could in principle push a million images a second through it.",
    "On a GPU (the recorded panel), tf32 and bf16 each beat fp32 by a wide margin.",
    "A step of a few milliseconds — a GPU on this small model — needs a link of tens of GB/s to stay near 100 %.",
    "Deep learning is mostly the GPU's kind of work, so a GPU can run it one to three orders of magnitude faster than a CPU.",
    "Adversarial training multiplies the cost of training by 2–11×; on a GPU that is routine.",
]


# Issue 23: the same claims in words, without a number (as chapters 07, 08, 11, 12, 14 and 17 said them).
ISSUE_WORDS = [
    "Video is where a GPU pipeline earns its keep in practice, and where a CPU pipeline chokes first.",
    "On a GPU the network classifies tens of thousands of frames per second.",
    "Next to a training step it is a small fraction on a GPU, so augmentation is free there.",
    "What is a curiosity on a CPU becomes routine on a GPU.",
    "A GPU changes the balance completely: the model becomes nearly free and decoding on the CPU is the whole cost.",
    "On a GPU the model and conversion rows rise while the CPU decode rows don't move: decoding becomes the bottleneck.",
    "A pattern NVIDIA GPUs since Ampere accelerate: the 2:4 pattern that recent NVIDIA GPUs run faster.",
    "On a GPU the conversion costs almost nothing.",
]


@pytest.mark.parametrize("sentence", ISSUE_WORDS)
def test_issue_23_gpu_words_in_prose_are_caught(sentence):
    assert ev.check_prose(sentence, "example", shows_records=True), sentence


def test_a_profile_never_made_is_caught():
    s = ("In a profile of the seed CNN on a GPU the top kernels are the convolutions' backward and the ReLU and "
         "pooling passes that compile fuses.")
    assert "profile" in ev.check_prose(s, "x", shows_records=True)[0].why
    assert ev.check_prose(s, "x", shows_records=True, shows_profile=True) == []


@pytest.mark.parametrize("sentence", [
    "At small batches a kernel can be done before the CPU has launched the next one: the GPU idles, waiting on Python.",
    "Suppose that on a GPU the network classifies frames much faster than a CPU decodes them: what limits it then?",
    "On a GPU, expect the model rows to rise; if the panel shows that, decoding becomes the bottleneck.",
    "The gradients' bytes don't shrink with a faster GPU, and newer cuDNN has faster kernels.",
    "On a machine with an NVIDIA GPU, decode the clip with both decoders and compare frames/s.",
    "The recorded run shows the 2:4 layer slower than dense on the H200.",
])
def test_hedged_or_backed_gpu_words_pass(sentence):
    assert ev.check_prose(sentence, "example", shows_records=True) == [], sentence


@pytest.mark.parametrize("sentence", ISSUE_PROSE)
def test_issue_examples_in_prose_are_caught(sentence):
    assert ev.check_prose(sentence, "example"), sentence


def test_issue_examples_in_outputs_are_caught():
    # the output that pointed at nothing
    out = "No CUDA GPU here: peak memory per precision is in the recorded GPU run (params 'peak_memory' below)."
    assert ev.check_output(out, 'print("No CUDA GPU here: ...")', "example")
    # a GPU figure typed into a print, even with a label
    src = 'print("recorded on NVIDIA H200: fit at 600,000 img/s")'
    assert "typed" in ev.check_output("recorded on NVIDIA H200: fit at 600,000 img/s", src, "example")[0].why
    # a computed GPU figure that doesn't say where it comes from
    assert "provenance" in ev.check_output("the GPU trains at 612,345 img/s", "print(f'the GPU trains at {r:,.0f} img/s')", "x")[0].why


@pytest.mark.parametrize("text", [
    "fit, end to end on the GPU: 598 kimg/s (fit end-to-end · bf16 · b2048; recorded on NVIDIA H200 · torch 2.11 · 2026-11-28)",
    "H200 · bf16: at most 2,870,519 img/s, memory-bound (compute 8,442,178, memory 2,870,519) — datasheet bound, not a measurement",
    "bf16 · b512 [cuda:0]: 2.37 ms per call (IQR 48.1 µs, n=5), 216 kimg/s",
    "final validation accuracy 0.957 after 1.2 s of training on NVIDIA H200",
])
def test_outputs_with_provenance_pass(text):
    assert ev.check_output(text, "print(f'{t}')", "example") == []


@pytest.mark.parametrize("sentence", [
    "NVIDIA GPUs since Ampere (compute capability 8.0) have tf32 tensor cores.",
    "2:4 sparsity keeps 2 of every 4 consecutive weights: 50% of them.",
    "A 4096×4096 matrix multiply can fill a GPU; a 16×16 one cannot.",
    "The shapes training set is 24.6 MB as uint8 — a GPU has room for it many times over.",
    "On a GPU the accuracy of the bf16 model was 91.8% on one batch.",
    "The course's target is **≥ 1,000,000 images/s** of end-to-end `fit` on an H100/H200, and fit ≥ 0.9× the raw step.",
    "Chapter 07 measures how much faster bf16 runs on a GPU, and chapter 01 bounds it.",
    "Two runs on different GPU counts differ by orders of magnitude more than float rounding after a long training.",
])
def test_statements_that_are_not_gpu_figures_pass(sentence):
    assert ev.check_prose(sentence, "example", shows_records=True) == [], sentence


def test_a_made_up_example_may_illustrate_a_layout():
    assert ev.check_output("a made-up example\nfast  cuda:0  1 ms  100 kimg/s  40.00x", "Timing('fast', 'cuda:0', 1e-3, ...)", "x") == []


def test_pointers_to_records_need_records_on_the_page():
    s = "Without a GPU, the recorded panel shows what a GPU does."
    assert ev.check_prose(s, "x", shows_records=False) and not ev.check_prose(s, "x", shows_records=True)


# --- the course itself -------------------------------------------------------------------------------------------------

def test_notebooks_state_no_gpu_figure_without_evidence():
    found = _unexpected(f for p in ev.default_paths() if p.suffix == ".ipynb" for f in ev.check_notebook(p))
    assert not found, "GPU figures without a record or prediction behind them:\n" + "\n".join(map(str, found))


def test_rendered_pages_state_no_gpu_figure_without_evidence():
    "The README and docs/ as `make docs` renders them from the notebooks now (the committed copies may lag a merge)."
    render = _tool("render")
    pages = [(p, p.stem) for p in render.chapters()] + [(render.NBS / "index.ipynb", "README")]
    found = []
    for nb, name in pages:
        text, _ = render.to_markdown(nb, f"{name}_files", "")
        found += ev.check_page(text, f"{nb.name} (rendered)")
    found = _unexpected(found)
    assert not found, "\n".join(map(str, found))


# --- the results chapter: per unit, like with like, no invented GPU numbers --------------------------------------------

PROV = {"what": "x", "date": "2026-02-01T00:00:00+00:00", "torch": "2.y", "cuda": "13.0", "cpu": "Big CPU",
        "cpu_threads": 16, "gpus": [{"index": 0, "name": "NVIDIA H200", "capability": "9.0", "memory_gib": 140,
                                     "multiprocessors": 132}]}


def _rec(exp, timings, gpu=True, date="2026-02-01"):
    p = dict(PROV, date=f"{date}T00:00:00+00:00") if gpu else dict(PROV, gpus=[], cuda=None, cpu="Small CPU", cpu_threads=2,
                                                                    date=f"{date}T00:00:00+00:00")
    return Record(exp, timings, p)


def _t(label, device, rate, unit="img", **params):
    return Timing(label, device, 1.0, 0.0, [1.0], rate, unit, params)


def test_best_by_device_never_compares_units():
    r = _rec("amp-limit", [_t("fit end-to-end · bf16 · b8", "cuda:0", 6e5), _t("matmul 8192³ bf16", "cuda:0", 6.7e14, "FLOP"),
                           _t("copy 256 MiB", "cuda:0", 4.2e12, "B")])
    with pytest.raises(ValueError, match="pass unit="): best_by_device(r)
    assert best_by_device(r, "img")["cuda:0"][2].startswith("fit end-to-end")
    rows = headline_rows([r])
    assert [(x["unit"], x["gpu"]) for x in rows] == [("img", "600 kimg/s"), ("FLOP", "670 TFLOP/s"), ("B", "4.2 TB/s")]


def test_speedups_come_from_one_run_and_one_kind_of_work():
    bench = _rec("bench", [_t("matmul 2048", "cpu", 1.4e12, "FLOP"), _t("conv3x3 c64 b8", "cpu", 8.8e11, "FLOP"),
                           _t("matmul 2048", "cuda:0", 5e13, "FLOP"), _t("conv3x3 c64 b4096", "cuda:0", 9.3e13, "FLOP")])
    row = headline_rows([bench])[0]
    assert row["gpu_what"].startswith("conv3x3") and row["cpu_what"].startswith("conv3x3")     # like with like
    assert row["speedup"] == pytest.approx(9.3e13 / 8.8e11)
    cpu_only = _rec("bench", [_t("matmul 2048", "cpu", 1.4e12, "FLOP")], gpu=False)
    assert all(r["speedup"] is None and r["gpu"] == "—" for r in headline_rows([cpu_only]))     # no GPU number invented
    odd = _rec("q", [_t("fp32 · b256", "cpu", 6e3), _t("fp16 · b256", "cuda:0", 7.9e5)])
    assert headline_rows([odd])[0]["speedup"] is None                                          # no kind in common


def test_predictions_are_labelled_bounds_beside_measurements():
    r = _rec("amp-knobs", [_t("bf16 · b2048", "cuda:0", 3.2e5, model="seed", batch=2048, precision="bf16", sync=False),
                           _t("fp32 + .item() per step · b1", "cuda:0", 423, model="seed", batch=1, precision="fp32", sync=True)])
    rows = prediction_rows([r])
    assert len(rows) == 1 and rows[0]["what"] == "bf16 · b2048"                 # the one-sample loop has no throughput model
    p = predict_timing("amp-knobs", r.timings[0], "NVIDIA H200")
    assert p.label == DATASHEET and rows[0]["measured ÷ bound"] == f"{p.ratio(3.2e5):.0%}"
    assert predict_timing("bench", _t("matmul 4096", "cuda:0", 5e13, "FLOP"), "H200").bound == 67e12      # fp32 CUDA cores
    assert predict_timing("conv", _t("conv3x3 c64 b8", "cuda:0", 1e13, "FLOP"), "H200").precision == "tf32"


def test_one_chart_per_unit_with_prediction_markers_and_no_covered_labels():
    recs = [_rec("amp-knobs", [_t("bf16 · b64", "cpu", 9.7e3), _t("bf16 · b2048", "cuda:0", 6.3e5)]),
            _rec("matmul", [_t("matmul 1024", "cpu", 2e11, "FLOP", n=1024)], gpu=False),
            _rec("data-loaders", [_t("GPULoader", "cpu", 3.3e5)], gpu=False)]
    fig = headline_charts(recs)
    axes = fig.axes
    assert [a.get_xlabel() for a in axes] == ["img/s, log scale", "FLOP/s, log scale"]       # one unit per chart
    img, flop = axes
    assert any(t.get_text().strip() == "65x" for t in img.texts)                              # 6.3e5 / 9.7e3, same run
    assert any("predicted" in t.get_text() for t in flop.texts)                               # matmul: no GPU record, a bound
    assert not any("predicted" in t.get_text() for t in img.texts)                            # no model for loaders: no marker
    for ax in axes:                                                                           # the legend sits outside the axes
        legend = ax.get_legend()
        assert legend is not None and legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1
    assert "Some GPU" not in json.dumps([t.get_text() for a in axes for t in a.texts])
    assert overlapping_labels(fig) == []         # chapter 15 showed '10 TFLOP/s100 TFLOP/s 1 PFLOP/s' run together


def test_chart_of_a_unit_without_results():
    ax = headline_chart([], unit="B")
    assert "no recorded B/s results" in ax.texts[0].get_text()


# --- prose that quotes or contradicts an output (issue 23, tools/check_prose.py) ---------------------------------------

pr = _tool("check_prose")


def _nb(tmp_path, markdown: str, output: str, source: str = "# NBVAL_IGNORE_OUTPUT\nprint(x)", name="x.ipynb"):
    "A notebook of one code cell (with `output` stored) and one markdown cell, written under `tmp_path`."
    cells = [{"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "source": source,
              "outputs": [{"name": "stdout", "output_type": "stream", "text": output}]},
             {"cell_type": "markdown", "id": "b", "metadata": {}, "source": markdown}]
    p = tmp_path / name
    p.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8")
    return p


# The contradictions issue 23 found, each with the output it contradicted.
ISSUE_23_PROSE = [
    ("Read the stored outputs of the AMP chapter instead, which were executed on an H200.",
     "this machine (AMD EPYC): fit at 737 img/s", "where the outputs ran"),
    ("Compare this machine's report with the stored output of the report cell above (it was executed on the GPU box).",
     "device: cpu · AMD EPYC · 2 threads", "where the outputs ran"),
    ("The same matmul runs 0.66× faster with all of torch's threads.",
     "time_fn, num_threads=2 : 32.7 ms  (0.66x faster with all 2 threads)", "measured ratio"),
    ("The set is small — 1,437 training images with an 80/10/10 split.",
     "FolderData('digits-v1-s32', flat: 10 classes, train 1438, val 180, test 179 images)", "near miss"),
    ("So the new structure costs more FLOPs and, in the table above, more time.",
     "cpu inference: SmallResNet takes 0.84x SeedCNN's time per image, for 2.44x its FLOPs", "direction"),
    ("The recipes reach the course's target, ≥ 95 % validation accuracy in ≤ 60 s on a 2-core CPU.",
     "final validation accuracy 0.965 after 64.6 s of training on AMD EPYC", "exceeded"),
    ("The seed CNN reached 96.5 % after 64.6 s of training.",
     "final validation accuracy 0.965 after 64.6 s of training on AMD EPYC", "run time"),
    ("*Without a GPU:* runs on a CPU in about three minutes.", "demo: 57.0 s in all", "run time"),
    ("In the run above the padded crop and flip lift validation accuracy from 67.8% to 82.2%.",
     "none   val acc  67.8%\ncrop + flip   val acc  82.2%", "measured quote"),
]


@pytest.mark.parametrize("markdown,output,why", ISSUE_23_PROSE)
def test_issue_23_prose_contradictions_are_caught(tmp_path, markdown, output, why):
    # a near miss is a stale quote of a deterministic output (the digits split is checked by nbval); the rest are measured
    source = "# NBVAL_CHECK_OUTPUT\nprint(x)" if why == "near miss" else "# NBVAL_IGNORE_OUTPUT\nprint(x)"
    found = pr.check_notebook(_nb(tmp_path, markdown, output, source))
    assert found and why in found[0].why, (markdown, found)


def test_a_measured_output_never_makes_a_count_look_stale(tmp_path):
    "Re-executing a notebook changes its measured numbers; a prose count that happens to sit next to one is not stale."
    assert pr.check_notebook(_nb(tmp_path, "One timed call is a pass over 1,024 images.", "1,025 img/s")) == []


@pytest.mark.parametrize("markdown,output", [
    ("The course's target is ≥ 95 % validation accuracy in ≤ 60 s on a 2-core CPU.", "after 48.2 s of training"),
    ("The shapes set has 8,000 training images.", "8000 training, 1000 validation"),
    ("NVIDIA GPUs since Ampere (compute capability 8.0) have sparse tensor cores.", "capability 8.0 needed; got 0.0"),
    ("The stored outputs were executed on an H200.", "this run, NVIDIA H200: 612 kimg/s"),
    ("The cell above prints how long training took on the machine that ran it.", "after 64.6 s of training"),
    ("Read the ratio above: on a small machine the threads may gain nothing, or lose.", "0.66x the one-thread speed"),
    ("int8 must be at least 2× faster at batch 256.", "int8 1.9x faster"),
])
def test_prose_that_points_at_outputs_passes(tmp_path, markdown, output):
    assert pr.check_notebook(_nb(tmp_path, markdown, output)) == []


def test_notebooks_quote_no_measured_number():
    "Every notebook's prose points at its measured numbers instead of hard-coding them (ALLOWED lists the reviewed exceptions)."
    found = pr.check()
    assert not found, "Prose that quotes or contradicts an output:\n" + "\n".join(map(str, found))


def test_allowed_exceptions_still_exist_and_have_reasons():
    "An ALLOWED entry whose sentence is gone (or has no reason) is stale: remove it."
    texts = {p.name: p.read_text(encoding="utf-8") for p in pr.default_paths()}
    for (nb, snippet), reason in pr.ALLOWED.items():
        assert len(reason) > 20, (nb, snippet)
        assert any(nb == name and all(w in text for w in snippet.split()) for name, text in texts.items()), (nb, snippet)


def test_headline_charts_of_the_committed_records_keep_their_labels_apart():
    "Chapter 15's FLOP/s panel, drawn from the committed records, showed '10 TFLOP/s100 TFLOP/s' run together."
    import matplotlib.pyplot as plt
    fig = headline_charts()
    assert len(fig.axes) >= 2 and overlapping_labels(fig) == []
    plt.close(fig)


# --- what the mutation run of report (tools/mutate.py report, seed 211) found untested --------------------------------

def test_a_pitfall_reading_is_never_a_headline():
    "A timing marked as a deliberately wrong measurement (params pitfall) is left out of the best rates."
    r = _rec("amp-knobs", [_t("fp32 · b64", "cuda:0", 9e9, pitfall="no sync"), _t("fp32 · b64", "cuda:0", 2e5)])
    assert best_by_device(r)["cuda:0"][0] == 2e5 and headline_rows([r])[0]["gpu"] == "200 kimg/s"


def test_headline_rows_kind_and_the_results_table_columns():
    from gpuvision_nb.report import results_table
    gpu = _rec("bench", [_t("fp32 · b8", "cpu", 1e3), _t("fp32 · b8", "cuda:0", 5e4)])
    cpu = _rec("loaders", [_t("fp32 · b8", "cpu", 2e3)], gpu=False, date="2026-03-01")
    cpu.provenance["cpu_only"] = True                                  # measures the CPU by design
    rows = headline_rows([gpu, cpu])
    assert [(r["experiment"], r["kind"], r["cpu_only"]) for r in rows] == [("bench", "gpu", False), ("loaders", "cpu", True)]
    assert results_table([gpu, cpu]).table_rows() == [
        {"experiment": "bench", "where": rows[0]["where"], "cpu": "1 kimg/s", "gpu": "50 kimg/s", "speed-up": "50x"},
        {"experiment": "loaders (CPU only)", "where": rows[1]["where"], "cpu": "2 kimg/s", "gpu": "—", "speed-up": None}]
    assert rows[0]["where"] == gpu.label and rows[1]["where"] == cpu.label


@pytest.mark.parametrize("label, unit, want", [("matmul 4096 tf32", "FLOP", "tf32"), ("matmul 4096 fp16", "FLOP", "fp16"),
                                               ("conv3x3 c64 b8 bf16", "FLOP", "bf16"), ("copy 256 MiB", "B", "fp32")])
def test_predict_timing_reads_the_precision_from_the_label(label, unit, want):
    p = predict_timing("bench", _t(label, "cuda:0", 1.0, unit), "H200")
    assert p is not None and p.precision == want and p.unit == unit


def test_predict_timing_of_a_seedcnn_timing_named_by_its_class():
    "params model='SeedCNN' (the class name some records use) is the seed model's cost, like model='seed'."
    by_class = predict_timing("x", _t("fp32 · b64", "cuda:0", 1.0, model="SeedCNN", batch=64), "H200")
    by_key = predict_timing("x", _t("fp32 · b64", "cuda:0", 1.0, model="seed", batch=64), "H200")
    assert by_class is not None and by_class.bound == by_key.bound
    assert predict_timing("x", _t("fp32 · b64", "cuda:0", 1.0, model="vit", batch=64), "H200") is None


def test_headline_chart_marks_and_labels():
    "A CPU-only record gets a diamond at its bound, on its row, labelled in the chart's unit; only CPU-only rows say so."
    import matplotlib.pyplot as plt
    recs = [_rec("amp-knobs", [_t("bf16 · b64", "cpu", 9.7e3), _t("bf16 · b2048", "cuda:0", 6.3e5)]),
            _rec("matmul", [_t("matmul 1024", "cpu", 2e11, "FLOP", n=1024)], gpu=False),
            _rec("matmul", [_t("matmul 1024", "cpu", 3e11, "FLOP", n=1024)], gpu=False),
            _rec("copy", [_t("matmul 64", "cpu", 1e9, "FLOP", n=64)], gpu=False)]
    recs[-1].provenance["cpu_only"] = True                             # a CPU-only experiment: no bound drawn for it
    ax = headline_chart(recs, unit="FLOP", gpu="H200")
    [diamond] = [l for l in ax.get_lines() if l.get_marker() == "D"]
    bound = predict_timing("matmul", recs[2].timings[0], "H200").bound
    assert list(diamond.get_xdata()) == [bound] and list(diamond.get_ydata()) == [1 - 0.2]     # row 1, below its CPU bar
    assert [t.get_text() for t in ax.texts] == [f"  ≤ {ev_fmt(bound, 'FLOP')} (predicted)"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["copy (CPU only)", "matmul"]
    img = headline_chart(recs, unit="img")
    assert [t.get_text() for t in img.get_yticklabels()] == ["amp-knobs"]
    assert img.figure.get_size_inches()[1] == pytest.approx(0.8 + 0.5)                  # one row: 1.3 inches
    plt.close("all")


def ev_fmt(rate, unit):
    from gpuvision_nb.bench import fmt_rate
    return fmt_rate(rate, unit)


def test_headline_charts_default_to_every_record(monkeypatch):
    import matplotlib.pyplot as plt
    import gpuvision_nb.report as report
    recs = [_rec("amp-knobs", [_t("bf16 · b64", "cpu", 9.7e3), _t("bf16 · b2048", "cuda:0", 6.3e5)])]
    monkeypatch.setattr(report, "all_records", lambda: recs)
    fig = report.headline_charts()
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["amp-knobs"]
    plt.close("all")


def test_predict_timing_reads_dtype_precision_and_the_experiments_default_model():
    "An inference timing without a model name is SeedCNN's in amp-limit and quantize-gpu-vs-cpu, and no one's elsewhere."
    t = lambda **p: _t("x · b64", "cuda:0", 1.0, batch=64, **p)
    assert predict_timing("amp-limit", t(dtype="bfloat16"), "H200").precision == "bf16"
    assert predict_timing("amp-limit", t(precision="fp16"), "H200").precision == "fp16"
    assert predict_timing("amp-limit", t(), "H200").precision == "fp32"
    assert predict_timing("train-loops", t(model="seed"), "H200").precision == "tf32"        # that experiment's default flags
    assert predict_timing("quantize-gpu-vs-cpu", t(), "H200") is not None and predict_timing("other", t(), "H200") is None
    r = _rec("amp-limit", [t(dtype="bfloat16")])
    assert len(prediction_rows([r])) == 1                                                      # found by its experiment


def test_best_by_device_keeps_the_first_of_equal_rates():
    r = _rec("bench", [_t("fp32 · first", "cpu", 5.0), _t("fp32 · second", "cpu", 5.0)])
    assert best_by_device(r)["cpu"] == (5.0, "img", "fp32 · first")


def test_headline_chart_predicts_a_cpu_only_experiments_default_model():
    "A CPU record of amp-limit (no model named in its params: SeedCNN) gets its datasheet diamond."
    import matplotlib.pyplot as plt
    ax = headline_chart([_rec("amp-limit", [_t("fp32 · b64", "cpu", 900.0, batch=64)], gpu=False)], unit="img", gpu="H200")
    assert [l.get_marker() for l in ax.get_lines()] == ["D"]
    plt.close("all")


def test_two_units_already_need_unit_and_a_pitfall_is_no_cpu_comparison():
    two = _rec("x", [_t("a", "cpu", 1.0), _t("b", "cpu", 2.0, "FLOP")])
    with pytest.raises(ValueError, match=r"'x' has rates in \['img', 'FLOP'\]: pass unit="): best_by_device(two)
    r = _rec("bench", [_t("matmul 2048", "cpu", 9e12, "FLOP", pitfall="no sync"), _t("matmul 2048", "cpu", 1e12, "FLOP"),
                       _t("conv3x3 c64", "cpu", 2e12, "FLOP"), _t("matmul 2048", "cuda:0", 5e13, "FLOP")])
    row = headline_rows([r])[0]                                         # the GPU's best is a matmul: the CPU's honest matmul
    assert (row["cpu_rate"], row["speedup"]) == (1e12, pytest.approx(50))


# --- survivors of tools/mutate.py report --sample 25 --seed 901 ---------------------------------------------------------

def test_no_records_at_all_say_so_in_an_img_panel():
    "With no results in any unit, headline_charts draws one images/s panel that says there are none (not an 'IMG/s' one)."
    import matplotlib.pyplot as plt
    fig = headline_charts([])
    assert [t.get_text() for a in fig.axes for t in a.texts] == ["no recorded img/s results yet"]
    plt.close("all")


def test_the_no_results_message_sits_in_the_middle_of_its_panel():
    "The empty panel's message is centred both ways (a baseline-aligned one sat half a line above the middle)."
    import matplotlib.pyplot as plt
    ax = headline_chart([], unit="FLOP")
    fig = ax.figure; fig.canvas.draw(); r = fig.canvas.get_renderer()
    box, panel = ax.texts[0].get_window_extent(r), ax.get_window_extent(r)
    assert abs((box.y0 + box.y1) / 2 - (panel.y0 + panel.y1) / 2) < 1       # pixels; the text is ~14 px tall at 100 dpi
    assert abs((box.x0 + box.x1) / 2 - (panel.x0 + panel.x1) / 2) < 1
    plt.close("all")


def test_headline_bars_keep_the_courses_cpu_and_gpu_colours():
    "CPU bars light blue, GPU bars green: the same key as chapter 02's benchmark charts, in every panel and legend."
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    ax = headline_chart([_rec("amp-knobs", [_t("bf16 · b64", "cpu", 9.7e3), _t("bf16 · b2048", "cuda:0", 6.3e5)])], unit="img")
    legend = ax.get_legend()
    colours = {t.get_text(): to_hex(h.get_facecolor()) for t, h in zip(legend.get_texts(), legend.legend_handles)}
    assert colours == {"CPU (measured)": "#7aa6d6", "GPU (measured)": "#7fbf6a"}
    assert sorted(to_hex(p.get_facecolor()) for p in ax.patches) == ["#7aa6d6", "#7fbf6a"]
    plt.close("all")


def test_predict_timing_has_no_flop_bound_for_other_flop_work_or_a_matmul_in_images():
    "A FLOP/s timing that is no matmul or convolution, and an images/s timing named 'matmul …', get no datasheet bound."
    assert predict_timing("attention", _t("sdpa 1024 bf16", "cuda:0", 1e14, "FLOP"), "H200") is None
    assert predict_timing("bench", _t("matmul loop", "cuda:0", 1e3, "img"), "H200") is None


# ---- tools/mutate.py report --sample 25 --seed 931: the survivors, each killed -----------------------------------
def test_headline_figures_grow_with_their_rows():
    "mutmut: the chart height 0.8 + 0.5 × rows → ÷ rows, and the panels' height ratios max(1, n) → max(2, n), survived."
    import matplotlib.pyplot as plt
    recs = [_rec(e, [_t("bf16 · b64", "cpu", 9.7e3), _t("bf16 · b2048", "cuda:0", 6.3e5)]) for e in ("amp-knobs", "amp-limit", "x")]
    ax = headline_chart(recs, unit="img")
    assert ax.figure.get_size_inches()[1] == pytest.approx(0.8 + 0.5 * 3)
    fig = headline_charts(recs + [_rec("matmul", [_t("matmul 1024", "cpu", 2e11, "FLOP", n=1024)], gpu=False)])
    assert fig.axes[0].get_gridspec().get_height_ratios() == [3, 1]          # img: 3 experiments, FLOP: 1
    plt.close(ax.figure); plt.close(fig)


def test_an_inference_timing_is_bound_by_the_forward_pass_only():
    "mutmut: params['mode'] → params['XXmodeXX'] (every inference timing bounded as a training step) survived."
    kw = dict(model="seed", batch=256, precision="bf16")
    train = predict_timing("x", _t("bf16 · b256", "cuda:0", 1e5, **kw), "H200")
    infer = predict_timing("x", _t("bf16 · b256", "cuda:0", 1e5, mode="inference", **kw), "H200")
    assert infer.bound > 2 * train.bound and infer.flops_per_item < train.flops_per_item / 2     # backward ≈ 2 × forward


def test_prediction_rows_give_the_bound_in_the_timing_s_unit():
    "mutmut: fmt_rate(p.bound, t.unit) → fmt_rate(p.bound, None) survived."
    r = _rec("amp-knobs", [_t("bf16 · b2048", "cuda:0", 3.2e5, model="seed", batch=2048, precision="bf16", sync=False)])
    row, = prediction_rows([r])
    assert row["measured"] == "320 kimg/s" and row["bound"].endswith("img/s")                 # not "… MNone/s"
