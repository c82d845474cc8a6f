"""Thread discipline for every training and evaluation process, applied before torch is imported.

torch.set_num_threads alone leaves OpenBLAS's and MKL's own pools at one thread per core; on a two-core machine
shared with builds, one OpenMP thread pinned to one core beats two threads by several times (docs/training.md).
"""
import os
import sys
from typing import List, Optional

kThreadVariables = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _flag(argv: List[str], name: str) -> Optional[str]:
    for i, a in enumerate(argv):
        if a == name and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def thread_count(spec: str) -> int:
    """--threads: a number, or 'auto': the cores not busy now (1-minute load average), at least one."""
    if spec != "auto":
        n = int(spec)
        if n < 1:
            raise ValueError(f"--threads must be at least 1, not {n}")
        return n
    return max(1, (os.cpu_count() or 1) - int(round(os.getloadavg()[0])))


def pin_core(spec: Optional[str], preset: Optional[str]) -> Optional[int]:
    """--pin-core: a core number, 'none', or 'auto' (the default): the cpu preset pins itself to the last core this
    process may use, leaving the others for builds; other presets are not pinned. Returns the core pinned to."""
    spec = spec or "auto"
    if spec == "none" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    if spec == "auto":
        if preset != "cpu":
            return None
        core = allowed[-1]
    else:
        core = int(spec)
        if core not in allowed:
            raise ValueError(f"--pin-core {core}: this process may only run on cores {allowed}")
    os.sched_setaffinity(0, {core})
    return core


def set_thread_variables(argv: List[str]) -> None:
    """Sets the thread variables from --threads (default 1) unless the caller set OMP_NUM_THREADS, and pins `run`
    to one core as --pin-core says."""
    n = thread_count(_flag(argv, "--threads") or "1")
    if "OMP_NUM_THREADS" not in os.environ:
        for v in kThreadVariables:
            os.environ[v] = str(n)
    else:
        for v in kThreadVariables[1:]:
            os.environ.setdefault(v, os.environ["OMP_NUM_THREADS"])
    if argv and argv[0] in ("run", "evaluate", "spread") and _flag(argv, "--device") in (None, "cpu", "auto"):
        core = pin_core(_flag(argv, "--pin-core"), _flag(argv, "--preset"))
        if core is not None:
            os.environ["SLIMTRAIN_PINNED_CORE"] = str(core)


kJemalloc = ("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2",
             "/usr/lib/arm-linux-gnueabihf/libjemalloc.so.2")
# glibc keeping what it frees: only blocks of 32 MiB and more are mmapped (and unmapped when freed); the heap is
# never trimmed. glibc reads these when the process starts, so they need a re-exec.
kGlibcKeep = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}


def use_retaining_allocator(argv: List[str]) -> None:
    """Re-executes this process with an allocator that keeps the memory it frees, as SLIMTRAIN_ALLOCATOR says:
    "glibc" (the default) with kGlibcKeep, "jemalloc" never returning pages (Debian: libjemalloc2), or "system"
    (as it comes, no re-exec). glibc as it comes hands every large tensor back to the kernel when it is freed, so
    each step faults its activations in again: one sandwich step of 16 crops took 2.9 s user + 1.6 s system (230 k
    page faults) against 1.4-1.5 s user, 0 s system with either retaining setting. Over a long run jemalloc's
    resident set grew by 0.25-0.5 GiB a minute and glibc's stayed flat (docs/training.md)."""
    choice = os.environ.get("SLIMTRAIN_ALLOCATOR", "glibc")
    if choice not in ("glibc", "jemalloc", "system"):
        raise SystemExit(f"SLIMTRAIN_ALLOCATOR={choice}: expected glibc, jemalloc or system")
    env = dict(os.environ)
    if choice == "jemalloc":
        lib = next((p for p in kJemalloc if os.path.exists(p)), None)
        if lib is None:
            raise SystemExit("SLIMTRAIN_ALLOCATOR=jemalloc: libjemalloc2 is not installed")
        if "jemalloc" in env.get("LD_PRELOAD", ""):
            return
        env["LD_PRELOAD"] = (lib + " " + env["LD_PRELOAD"]).strip() if env.get("LD_PRELOAD") else lib
        env.setdefault("MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")
    elif choice == "glibc":
        if all(k in env for k in kGlibcKeep):
            return
        for k, v in kGlibcKeep.items():
            env.setdefault(k, v)
    else:
        return
    os.execve(sys.executable, [sys.executable] + argv, env)
