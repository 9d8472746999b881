"Appendix A1 (gpuvision_nb.supervisor): restarting a crashed run, and one line per process when a rank of `--nproc` dies."
import os, sys
from types import SimpleNamespace as NS

import pytest

from gpuvision_nb.supervisor import cli_worker, failure_summary, lost_peer, supervise

PY = sys.executable


def test_supervise_prints_each_line_by_default_stdout_and_stderr_alike(capsys):
    "Without on_line every line is printed, stderr merged into the same stream, in order; a success is one attempt."
    code = "import sys; print('out', flush=True); print('err', file=sys.stderr, flush=True); print('XBOX')"
    assert supervise([PY, "-c", code], max_restarts=0) == [0]
    assert capsys.readouterr().out == "out\nerr\nXBOX\n"                 # only the newline is taken off a line


def test_supervise_passes_env_cwd_and_the_attempt(tmp_path):
    seen = []
    code = "import os; print(os.environ['SUPERVISED'], os.getcwd()); raise SystemExit(int(os.environ['SUPERVISED']))"
    with pytest.raises(RuntimeError):
        supervise([PY, "-c", code], max_restarts=1, env={**os.environ, "SUPERVISED": "5"}, cwd=tmp_path,
                  on_line=lambda line, proc, attempt: seen.append((line, attempt, proc.args[0])))
    assert seen == [(f"5 {tmp_path.resolve()}", 0, PY), (f"5 {tmp_path.resolve()}", 1, PY)]     # getcwd: the real path


def test_supervise_with_no_restarts_gives_up_after_one_failure_naming_the_command():
    long = "x" * 300
    with pytest.raises(RuntimeError) as e:
        supervise([PY, "-c", f"raise SystemExit(4)  # {long}"], max_restarts=0, on_line=lambda *a: None)
    msg = str(e.value)
    head = f"{PY} -c raise SystemExit(4)  # {long}"[:200]
    assert msg == f"supervise: {head} failed 1 times (exit codes [4]); gave up after 0 restarts"


@pytest.mark.parametrize("text", ["Connection closed by peer", "Connection reset by peer", "Broken pipe",
                                  "gloo/transport", "NCCL communicator was aborted"])
def test_lost_peer_knows_each_message_of_a_dead_peer(text):
    assert lost_peer(RuntimeError(f"[somewhere] {text} [::1]:5"))
    assert not lost_peer(ValueError(text)) and not lost_peer(RuntimeError("CUDA out of memory"))


def test_lost_peer_without_torch_distributed_reads_only_the_message(monkeypatch):
    "Before torch.distributed is imported there is no group to lose; a plain RuntimeError's message still counts."
    class DistError(RuntimeError): pass
    monkeypatch.setitem(sys.modules, "torch.distributed", NS(DistError=DistError))
    assert lost_peer(DistError("anything"))                             # the group's own error type
    monkeypatch.delitem(sys.modules, "torch.distributed")
    assert not lost_peer(DistError("anything")) and lost_peer(RuntimeError("Broken pipe"))


def test_failure_summary_when_the_signal_has_no_name_and_at_the_boundaries():
    def unnamed(): raise ValueError("no such signal")
    f = {0: NS(exitcode=128), 1: NS(exitcode=-64, signal_name=unnamed), 2: NS(exitcode=129), 3: NS(exitcode=None),
         4: NS(exitcode=0, signal_name=lambda: "?")}
    assert failure_summary(f) == ("rank 1 was killed by signal 64; rank 0 exited with code 128; "
                                  "rank 2 was killed by signal SIGHUP (it cleaned up, exit code 129); rank 3 exited with code None; "
                                  "rank 4 exited with code 0")


def test_cli_worker_returns_mains_code_and_words_a_lost_peer(monkeypatch, capsys):
    import gpuvision_nb.cli as cli
    monkeypatch.setattr(cli, "main", lambda argv: 2 if argv == ["x"] else 0)
    assert cli_worker(["x"]) == 2 and cli_worker([]) == 0                   # its own exit code, argv passed through
    monkeypatch.delenv("RANK", raising=False)
    def lost(argv): raise RuntimeError("\n  \n  Broken pipe " + "y" * 300 + "\nsecond line")
    monkeypatch.setattr(cli, "main", lost)
    assert cli_worker([]) == 3
    err = capsys.readouterr().err
    assert err == f"gpuvision: rank ?: lost contact with another process, stopping ({('Broken pipe ' + 'y' * 300)[:160]})\n"
    class DistError(RuntimeError): pass                                     # an empty message: the type is named
    monkeypatch.setitem(sys.modules, "torch.distributed", NS(DistError=DistError))
    monkeypatch.setenv("RANK", "1")
    def silent(argv): raise DistError()
    monkeypatch.setattr(cli, "main", silent)
    assert cli_worker([]) == 3
    assert capsys.readouterr().err == "gpuvision: rank 1: lost contact with another process, stopping (DistError)\n"
