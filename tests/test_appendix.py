"""Appendix notebooks (nbs/A*.ipynb, issue 23 item 1): the engineering moved out of the main chapters stays exported,
importable from where it was, one-way in the import graph, and every tool that lists chapters lists them too."""
import importlib.util, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPENDICES = {"A1_supervisor": "supervisor", "A2_imagefile": "imagefile", "A3_videofile": "videofile",
              "A4_modelfile": "modelfile", "A5_launch": "launch",
              "A6_runs": "runs", "A7_files": "files", "A8_folders": "folders", "A9_folderdata": "folderdata"}


def tool(name):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", ROOT / "tools" / f"{name}.py")
    mod = sys.modules[spec.name] = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return mod


def test_moved_names_are_still_importable_from_their_old_modules():
    from gpuvision_nb import bench, data, files, folders, imagefile, modelfile, robust, supervisor, video, videofile
    for name in ("OutputOverlapError", "WriteError", "check_file_target", "check_output", "check_replaceable", "default_mode",
                 "ensure_writable", "fsync_path", "no_empty_folders", "scratch_dir", "sweep_beside", "temp_prefix",
                 "write_atomic", "write_failure", "write_files"):
        assert getattr(bench, name) is getattr(files, name), name
    assert robust.supervise is supervisor.supervise
    from gpuvision_nb import distributed
    for name in ("NPROC_WORKER", "lost_peer", "cli_worker", "failure_summary"):
        assert getattr(distributed, name) is getattr(supervisor, name), name
    for name in ("export_model", "load_exported", "manifest_for", "_signature"):
        assert getattr(robust, name) is getattr(modelfile, name), name
    from gpuvision_nb import cli, deploy
    for name in ("fit_image", "image_files"): assert getattr(deploy, name) is getattr(imagefile, name), name
    for name in ("image_files", "stdin_paths"): assert getattr(cli, name) is getattr(imagefile, name), name
    for name in ("_flatten_state", "_unflatten_state", "_tensor_module", "MODEL_FORMAT", "META_KEY", "LIMITS", "with_metadata",
                 "_embedded_meta", "_describes", "_check_sizes", "_weight_shapes", "_check_shapes", "_load_single", "_load_file",
                 "_run_meta", "_checkpoint_in", "_load_run", "export_model", "load_exported", "manifest_for",
                 "_export_inputs", "_check_export_out"):
        assert getattr(deploy, name) is getattr(modelfile, name), name
    for name in ("open_video", "BadVideoError", "VideoInfo", "MAX_VIDEO_PIXELS", "VIDEO_EXTENSIONS", "write_bad_videos", "BAD_VIDEO_CASES",
                 "VideoWriter", "write_video", "bar_frames"):
        assert getattr(video, name) is getattr(videofile, name), name
    assert issubclass(videofile.BadVideoError, data.DatasetError)
    for name in ("CACHE_ENV", "cache_dir", "cache_lock", "cache_fill", "cached_folder", "check_new_folder", "write_atomically"):
        assert getattr(data, name) is getattr(folders, name), name
    for name in ("open_rgb", "to_rgb", "walk_images", "write_bad_images", "BadImageError", "DatasetError",
                 "IMAGE_EXTENSIONS", "TORCHVISION_EXTENSIONS", "MAX_PIXELS", "BAD_CASES", "UNREADABLE", "pillow_extensions", "bomb_png", "reference_image"):
        assert getattr(data, name) is getattr(imagefile, name), name



def test_run_folder_names_still_import_from_train_with_a_warning_naming_their_new_home():
    "runs imports train, so train can't import runs back: its module __getattr__ hands out the moved names, warning."
    import warnings
    from gpuvision_nb import runs, train
    for name in train._MOVED["runs"]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(train, name) is getattr(runs, name), name
        assert [(w.category, str(w.message)) for w in caught] == \
               [(DeprecationWarning, f"gpuvision_nb.train.{name} moved to gpuvision_nb.runs.{name}")], name
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"): train.no_such_name
    assert not hasattr(train, "_better")                    # only the public names are handed out


def test_folder_names_still_import_from_data_with_a_warning_naming_their_new_home():
    "folderdata (A9) imports data, so data hands out the names that moved there the same way (bench.moved_names)."
    import warnings
    from gpuvision_nb import data, folderdata
    moved = ("SPLITS", "SPLIT_FOLDERS", "LAYOUTS", "find_layout", "to_channels", "preprocess", "FolderData", "is_grey", "folder_loaders")
    assert set(moved) == set(folderdata.__all__)                # every public name of the appendix
    for name in moved:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(data, name) is getattr(folderdata, name), name
        assert [(w.category, str(w.message), Path(w.filename).name) for w in caught] == \
               [(DeprecationWarning, f"gpuvision_nb.data.{name} moved to gpuvision_nb.folderdata.{name}", "test_appendix.py")], name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from gpuvision_nb.data import folder_loaders            # a user's old import line still works
    assert folder_loaders is folderdata.folder_loaders and len(caught) == 1
    with pytest.raises(AttributeError, match="module 'gpuvision_nb.data' has no attribute '_samples'"): data._samples

@pytest.mark.parametrize("module, forbidden", [("supervisor", ["gpuvision_nb.robust", "gpuvision_nb.distributed", "gpuvision_nb.cli", "torch"]),
                                               ("imagefile", ["gpuvision_nb.data", "torchvision", "torch"]),
                                               ("videofile", ["gpuvision_nb.video", "gpuvision_nb.data", "torch"]),
                                               ("modelfile", ["gpuvision_nb.robust", "gpuvision_nb.deploy"]),
                                               ("launch", ["gpuvision_nb.cli", "gpuvision_nb.deploy", "torch"]),
                                               ("runs", ["gpuvision_nb.distributed", "gpuvision_nb.demo", "gpuvision_nb.cli",
                                                         "gpuvision_nb.deploy"]),
                                               ("files", ["gpuvision_nb.bench", "gpuvision_nb.data", "gpuvision_nb.videofile",
                                                          "torch"]),
                                               ("folders", ["gpuvision_nb.bench", "gpuvision_nb.data", "gpuvision_nb.video", "gpuvision_nb.train",
                                                            "torchvision"]),
                                               ("folderdata", ["gpuvision_nb.train", "gpuvision_nb.runs", "gpuvision_nb.deploy",
                                                               "gpuvision_nb.video", "gpuvision_nb.models", "torchvision"])])
def test_appendix_modules_import_nothing_of_the_chapters_that_use_them(module, forbidden):
    "One-way: a chapter's module imports its appendix's module, never the reverse; and an appendix stays light."
    code = f"import sys, gpuvision_nb.{module}; print(' '.join(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and out.stdout.strip() == "", (out.stdout, out.stderr[-500:])


def _imported_modules(path: Path, package: str = "gpuvision_nb") -> set[str]:
    "Every module an `import`/`from … import` anywhere in `path` names (module level or inside functions), made absolute."
    import ast
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import): names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = (package if node.level else "") + ("." + node.module if node.level and node.module else node.module or "")
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("module, chapter", [("videofile", "video"), ("imagefile", "data"), ("supervisor", "robust"),
                                             ("modelfile", "robust"), ("modelfile", "deploy"), ("runs", "distributed"),
                                             ("runs", "cli"), ("runs", "demo"), ("folders", "data"), ("folders", "video"),
                                             ("folders", "train"), ("files", "bench"), ("files", "data"), ("files", "cli"),
                                             ("folderdata", "train"), ("folderdata", "runs"), ("folderdata", "deploy"),
                                             ("folderdata", "video"), ("folderdata", "prune")])
def test_appendix_sources_name_no_chapter_module_that_uses_them(module, chapter):
    "The import graph is one-way in the source too: no import of the chapter's module, not even inside a function."
    found = _imported_modules(ROOT / "gpuvision_nb" / f"{module}.py")
    assert not {n for n in found if n == f"gpuvision_nb.{chapter}" or n.startswith(f"gpuvision_nb.{chapter}.")}, found


def test_every_tool_that_lists_chapters_lists_the_appendices():
    render, website, gpu_check = tool("render"), tool("website"), tool("gpu_check")
    readme = (ROOT / "README.md").read_text()
    for stem, module in APPENDICES.items():
        assert f"(nbs/{stem}.ipynb)" in readme and f"(gpuvision_nb/{module}.py)" in readme, stem     # the README's table
        assert (ROOT / "nbs" / f"{stem}.ipynb").exists() and (ROOT / "gpuvision_nb" / f"{module}.py").exists()
        assert stem in {p.stem for p in render.chapters()}
        assert stem in {p.stem for p in website.notebooks()}
        assert [p.stem for p in gpu_check.select([stem.split("_")[0]], ROOT / "nbs")] == [stem]
    stems = [p.stem for p in website.notebooks()]
    assert max(i for i, s in enumerate(stems) if s[:2].isdigit()) < min(stems.index(s) for s in APPENDICES)


def test_website_numbers_appendices_and_lists_them_apart():
    website = tool("website")
    assert [website.number_of(s) for s in ("06_train", "90_cli", "A1_supervisor", "A12_x", "index")] == \
           ["06", "90", "A1", "A12", "index"]
    assert [website.is_appendix(s) for s in ("A1_supervisor", "03_data", "Apple", "index")] == [True, False, False, False]
