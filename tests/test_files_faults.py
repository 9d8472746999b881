"""Hostile tests of the files the tools write (found by the files helper): a long file name, a full disk, a destination
that vanishes, a process killed midway. The user's files stay as they were, no temporary file is left, and the
error names the file the user asked for — never a hidden temporary one."""
import os, sys
from pathlib import Path

import numpy as np
import pytest

from gpuvision_nb import bench
from gpuvision_nb.bench import write_atomic

sys.path.insert(0, str(Path(__file__).parent))
from conftest import dead_process_tag, linux_tags  # noqa: E402

LONG = ["r" * 240 + ".json", "視頻" * 40 + ".json"]          # 245 bytes; 80 CJK characters = 245 bytes: a name may have 255


@pytest.mark.parametrize("name", LONG, ids=["ascii", "cjk"])
def test_a_file_with_a_long_name_can_be_written(tmp_path, name):
    """A name of more than about 140 bytes (50 Chinese characters) could be created by any program but not written
    by ours: 'can't write NAME: File name too long' — the temporary file beside it, named after it plus the host,
    process tag and a random part, was too long. The records, exports, checkpoints and videos all write that way."""
    target = tmp_path / name
    target.write_text("old")
    assert write_atomic(target, "new").read_text() == "new" and list(tmp_path.iterdir()) == [target]
    assert len(os.fsencode(bench.temp_prefix(target))) + len(".abcd1234.tmp") <= 255 - 64 + len(bench.host_tag())


def test_a_video_with_a_long_name_can_be_written(tmp_path):
    from gpuvision_nb.videofile import bar_frames, write_video
    target = tmp_path / ("v" * 240 + ".mp4")
    assert write_video(target, np.stack(list(bar_frames(2, 16)))).stat().st_size > 0 and list(tmp_path.iterdir()) == [target]


@linux_tags
def test_the_leftover_of_a_killed_writer_of_a_long_name_is_swept(tmp_path):
    "The cut name (`bench._name_in_temp`) is the same for the same target: a dead writer's temporary file still goes."
    target = tmp_path / LONG[1]
    prefix = bench.temp_prefix(target).rsplit("@", 1)[0]
    dead, other = tmp_path / f"{prefix}@{dead_process_tag()}.abcd1234.tmp", tmp_path / f".{'x' * 99}.{bench.host_tag()}@{dead_process_tag()}.abcd1234.tmp"
    dead.write_text("x"); other.write_text("x")
    write_atomic(target, "new")
    assert not dead.exists() and other.exists() and target.read_text() == "new"
