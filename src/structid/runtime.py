"""How structid uses the machine: threads, denormal floats and the torch device.

Two CPU-specific slow paths are guarded here. Denormal floats: tiny activations inside the CNN
ran 8x slower on an Intel Xeon (reported in the fast-CPU issue; not reproducible on the AMD
machines measured here) unless the CPU flushes them to zero, which changes no label. Oversubscription: torch, numba and
the LESS thread pool each default to every core of the machine, not the cores this process may
use (a cgroup or ``taskset`` limit, a shared node), and together run slower than one thread.
Every threaded part asks :func:`threads` instead.

Nothing here imports torch or numba: :func:`torch_ready` does, when a model first needs it.
"""

from __future__ import annotations

import os
import platform
from typing import Any

from structid.errors import InputError

DEVICES = ("cpu", "cuda", "mps")
_settings: dict[str, Any] = {"threads": None, "device": "cpu"}


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), not every core of the machine."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads() -> int:
    """Threads each parallel part uses: the configured number, else :func:`available_cores`."""
    return _settings["threads"] or available_cores()


def device() -> str:
    """The torch device models run on (``cpu`` unless configured)."""
    return _settings["device"]


def configure(threads: int | None = None, device: str | None = None) -> None:
    """Set the thread count (None: the available cores) and the torch device (cpu, cuda, mps);
    a device that is not present is an :class:`InputError`."""
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    if device is not None and device not in DEVICES:
        raise InputError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    _settings["threads"] = threads
    if device is not None:
        if device != "cpu":
            _check_device(device)
        _settings["device"] = device
    numba_ready()


def _check_device(name: str) -> None:
    import torch

    present = torch.cuda.is_available() if name == "cuda" else torch.backends.mps.is_available()
    if not present:
        raise InputError(f"--device {name}: no {name.upper()} device is available to torch here; use --device cpu")


def torch_ready():
    """torch, with denormals flushed (in the calling thread) and its thread count set."""
    import torch

    torch.set_flush_denormal(True)
    # checked on every call: training code and other libraries may have changed it since
    if torch.get_num_threads() != threads():
        torch.set_num_threads(threads())
    return torch


def numba_ready() -> None:
    """Limit numba's parallel loops to :func:`threads`."""
    import numba

    numba.set_num_threads(min(threads(), numba.config.NUMBA_NUM_THREADS))


def denormals_flushed() -> bool:
    """Whether torch flushes denormal floats on this CPU (x86 with SSE3: yes)."""
    return bool(torch_ready().set_flush_denormal(True))  # False where the CPU cannot


def keep_freed_memory(threshold: int = 256 << 20) -> bool:
    """Let glibc keep freed memory for reuse: up to ``threshold`` bytes at the top of the heap,
    and blocks up to 32 MiB from the heap rather than from fresh ``mmap`` pages. Dask's worker
    processes start with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's adaptive
    mmap threshold at 128 KiB, so every CNN batch faulted its buffers in again: the same frame
    took 1.4x as long as in a plain process (docs/benchmarks.md). Returns whether both settings
    took (glibc only)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        # -1: M_TRIM_THRESHOLD, -3: M_MMAP_THRESHOLD (32 MiB is glibc's largest adaptive value)
        return bool(libc.mallopt(-1, int(threshold))) and bool(libc.mallopt(-3, 32 << 20))
    except (OSError, AttributeError):
        return False


#: environment variable: the memory this process may use in all (``4G``, ``512M``, bytes), for
#: a batch system that enforces a limit without a cgroup; a Dask worker sets its own limit
MEMORY_VARIABLE = "STRUCTID_MEMORY"


def parse_bytes(text: str) -> int:
    """``4G``, ``512M``, ``64k`` or a number of bytes (powers of 1024) as bytes (Dask has one too,
    but Dask is an optional extra)."""
    text = str(text).strip()
    scale = 1 << (10 * " KMGT".index(text[-1].upper())) if text and text[-1].upper() in "KMGT" else 1
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        value = -1.0
    if not value > 0:
        raise InputError(f"${MEMORY_VARIABLE}: {text!r} is not an amount of memory; write e.g. 4G, 512M or bytes")
    return int(value)


def resident_memory() -> int:
    """Bytes this process holds now (its resident set; 0 where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_available() -> int | None:
    """Bytes this process can still use: the machine's available memory (``MemAvailable``), or
    less where a cgroup (a container, a batch job) or :data:`MEMORY_VARIABLE` limits it; None
    where unknown."""
    found = []
    if os.environ.get(MEMORY_VARIABLE):
        found.append(max(parse_bytes(os.environ[MEMORY_VARIABLE]) - resident_memory(), 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    # cgroup v2, then v1: the limit less what the group already uses
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as f:
                text = f.read().strip()
            with open(usage) as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) < 1 << 60:  # "max" or a v1 "no limit" sentinel
            found.append(max(int(text) - used, 0))
        break
    return min(found) if found else None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), for every speed figure."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
