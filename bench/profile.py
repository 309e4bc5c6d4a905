"""Where a server's CPU goes: py-spy samples it under load, and the hottest frames are
summarised for the results' notes when a target is missed.

Only samples holding the GIL are kept (`--gil`): what the process computes, not what it
waits for. Frames are counted by their own time (the leaf of each sample) and, for the
service's own code, by the time spent beneath them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

TOP = 12
_LOCATION = re.compile(r"\s*\((?:.*/site-packages/|.*/lib/python3\.\d+/|.*?/(?=app/))?(.*)\)$")


def profile(pid: int, seconds: float, load: Callable[[], object]) -> list[str]:
    """The summary of `seconds` of samples of process `pid` while `load` runs."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        return ["no profile: py-spy is not installed (the bench extra installs it)"]
    with tempfile.TemporaryDirectory() as directory:
        raw = Path(directory) / "samples.txt"
        command = [py_spy, "record", "--pid", str(pid), "--duration", str(round(seconds))]
        command += ["--rate", "200", "--gil", "--format", "raw", "--output", str(raw)]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        load()
        _, errors = sampler.communicate(timeout=seconds + 30)
        if sampler.returncode != 0 or not raw.exists():
            return [f"no profile: py-spy failed: {errors.decode(errors='replace')[-300:]}"]
        return summary(raw.read_text())


def summary(samples: str) -> list[str]:
    own: Counter[str] = Counter()
    beneath: Counter[str] = Counter()
    total = 0
    for line in samples.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if "app/" in frame:
                beneath[frame] += int(count)
    if not total:
        return ["no profile: no samples"]
    lines = [f"{total} samples holding the GIL; own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(TOP)]
    lines.append("time beneath the service's own frames:")
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in beneath.most_common(TOP)]
    return lines


def _frame(frame: str) -> str:
    """`function (path:line)` with the path from its package on."""
    return _LOCATION.sub(lambda match: f" ({match.group(1)})", frame)
