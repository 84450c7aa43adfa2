"""Sampling the server with py-spy while a workload runs, and summarising the samples."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy recording ``pid`` for ``seconds`` into ``output`` (collapsed stacks)."""
    binary = py_spy()
    if binary is None:
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "250",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _module_of(frame: str) -> str:
    """``name (path:line)`` -> the package path, shortened after site-packages."""
    _name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/python3." in path:
        return "stdlib"
    parts = Path(path).parts
    return parts[-2] if len(parts) >= 2 else path


def summarise(collapsed: Path, top: int = 15) -> str:
    """Where the samples fell: by package (inclusive) and by function (self)."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for package in {_module_of(frame) for frame in frames}:
            packages[package] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "share of samples with a frame of (inclusive):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in packages.most_common(top)]
    lines += ["", "self time by function:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)
