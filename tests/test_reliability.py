"""Outputs are all or nothing: a run killed at any moment leaves the previous output folder complete, and a
second run on the same inputs writes the same bytes."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from transitmap.report import OUTPUT_MARKER, write_dir_atomic

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_dying_while_writing_any_file_leaves_the_old_folder(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_dir_atomic(out, {"a.txt": b"old a", "sub/b.txt": b"old b"})
    before = snapshot(out)
    new = {f"f{k}.txt": b"new" * 1000 for k in range(5)}
    real = os.fsync
    for dies_at in range(len(new)):
        calls = []

        def dying(fd, calls=calls, dies_at=dies_at):
            calls.append(fd)
            if len(calls) > dies_at:
                raise OSError("killed")
            return real(fd)

        monkeypatch.setattr(os, "fsync", dying)
        with pytest.raises(OSError):
            write_dir_atomic(out, new)
        monkeypatch.setattr(os, "fsync", real)
        assert snapshot(out) == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "nothing half-written left beside it"
    write_dir_atomic(out, new)
    assert {k: v for k, v in snapshot(out).items() if k != OUTPUT_MARKER} == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert oct(out.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _build(inputs: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "transitmap.cli", "build", str(inputs), "--out", str(out),
                             "--no-validate", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: a kill reaches its workers too


def test_sigkill_at_any_moment_leaves_one_complete_output(tmp_path):
    """Build A, then build B over it and kill -9 it at moments spread over its run: the folder is always exactly
    A's output or exactly B's, never a mixture or a part."""
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(SAMPLE, a)
    shutil.copytree(SAMPLE, b)
    shutil.rmtree(b / "naledi")  # B is a smaller survey: another feed
    outs = {}
    for name, inputs in (("a", a), ("b", b)):
        t = time.perf_counter()
        assert _build(inputs, tmp_path
                      / f"out-{name}").wait() == 0  # broken files on purpose: reported; a feed is written
        outs[name] = (snapshot(tmp_path / f"out-{name}"), time.perf_counter() - t)
    assert outs["a"][0]["gtfs.zip"] != outs["b"][0]["gtfs.zip"]
    out = tmp_path / "out"
    shutil.copytree(tmp_path / "out-a", out)
    duration = outs["b"][1]
    for share in (0.3, 0.7, 0.9, 0.97):
        proc = _build(b, out)
        time.sleep(duration * share)
        os.killpg(proc.pid, signal.SIGKILL)  # the build and its worker processes: none is left running
        proc.wait()
        now = snapshot(out)
        assert now in (outs["a"][0], outs["b"][0]), f"killed at {share:.0%}: a mixture of A and B"
    assert _build(b, out).wait() == 0 and snapshot(out) == outs["b"][0]


def test_a_second_run_on_the_same_inputs_writes_the_same_bytes(tmp_path):
    for name in ("first", "second"):
        assert _build(SAMPLE, tmp_path / name).wait() == 0
    first, second = snapshot(tmp_path / "first"), snapshot(tmp_path / "second")
    assert len(first) >= 14 and first == second


def test_any_order_and_any_folder_names_give_the_same_files(tmp_path):
    """The sample built from its folders given in two orders: every file byte-identical. Built again with the
    collectors' folders renamed: the feed, statistics, figures, layers and report byte-identical, and the
    ledger too but for its file names."""
    import csv
    import random

    folders = sorted(str(p) for p in SAMPLE.iterdir())
    orders = [random.Random(seed).sample(folders, len(folders)) for seed in (1, 2)]
    assert orders[0] != orders[1]
    procs = [subprocess.Popen([sys.executable, "-m", "transitmap.cli", "build", *order, "--out",
                               str(tmp_path / f"o{k}"),
                               "--no-validate", "-q"]) for k, order in enumerate(orders)]
    assert [p.wait() for p in procs] == [0, 0]
    first, second = snapshot(tmp_path / "o0"), snapshot(tmp_path / "o1")
    assert first == second

    renamed = tmp_path / "renamed"
    for k, folder in enumerate(sorted(SAMPLE.iterdir())):
        shutil.copytree(folder, renamed / f"collector-{9 - k}")
    plain, other = _build(SAMPLE, tmp_path / "plain"), _build(renamed, tmp_path / "other")
    assert plain.wait() == 0 and other.wait() == 0
    a, b = snapshot(tmp_path / "plain"), snapshot(tmp_path / "other")
    assert a.keys() == b.keys()
    for name in a:
        if name not in ("traces.csv", "report.json"):
            assert a[name] == b[name], name

    def ledger(data: bytes) -> list[dict]:  # but for the file names, and the collectors read from them (thabo/'s
        # GPX files name none: the folder does; renamed, it is another collector's pseudonym)
        rows = list(csv.DictReader(io.StringIO(data.decode())))
        return sorted(({k: v for k, v in r.items() if k not in ("file", "collector")} for r in rows),
                      key=lambda r: sorted(r.items()))

    assert ledger(a["traces.csv"]) == ledger(b["traces.csv"])
