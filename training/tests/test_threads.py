"""Thread variables set before torch loads, pinning, and the allocator re-exec, in fresh interpreters."""
import os
import subprocess
import sys
import unittest

import _path  # noqa: F401
from slimtrain.threads import _flag, pin_core, thread_count

kTraining = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child(code: str, env: dict) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                              "MKL_NUM_THREADS", "LD_PRELOAD", "SLIMTRAIN_ALLOCATOR",
                                                              "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {kTraining!r}); " + code],
                          env=full, check=True, capture_output=True, text=True).stdout.strip()


class ThreadsTest(unittest.TestCase):
    def test_flags_and_counts(self):
        self.assertEqual(_flag(["run", "--threads", "3"], "--threads"), "3")
        self.assertEqual(_flag(["run", "--threads=2"], "--threads"), "2")
        self.assertIsNone(_flag(["run", "--threads"], "--threads"))
        self.assertEqual(thread_count("2"), 2)
        self.assertGreaterEqual(thread_count("auto"), 1)
        with self.assertRaises(ValueError):
            thread_count("0")

    def test_pinning(self):
        self.assertIsNone(pin_core("none", "cpu"))
        self.assertIsNone(pin_core("auto", "smoke"))  # only the cpu preset pins itself
        with self.assertRaises(ValueError):
            pin_core(str(max(os.sched_getaffinity(0)) + 1000), "cpu")

    def test_variables_are_set_before_torch_loads(self):
        out = _child("from slimtrain.threads import set_thread_variables as s; s(['run', '--threads', '1']); "
                     "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['OPENBLAS_NUM_THREADS'], "
                     "os.environ['MKL_NUM_THREADS'])", {})
        self.assertEqual(out, "1 1 1")
        out = _child("from slimtrain.threads import set_thread_variables as s; s(['evaluate']); "
                     "import os; print(os.environ['OPENBLAS_NUM_THREADS'])", {"OMP_NUM_THREADS": "2"})
        self.assertEqual(out, "2")  # the caller's OMP_NUM_THREADS wins and the others follow it

    def test_the_allocator_reexec_can_be_turned_off(self):
        out = _child("from slimtrain.threads import use_retaining_allocator as u; "
                     "u(['-c', 'import os; print(os.environ.get(\"LD_PRELOAD\", \"\"))']); print('not re-executed')",
                     {"SLIMTRAIN_ALLOCATOR": "system"})
        self.assertEqual(out, "not re-executed")

    def test_the_process_reexecutes_with_glibc_keeping_memory_by_default(self):
        probe = "import os; print(os.environ.get(\"MALLOC_MMAP_THRESHOLD_\"), os.environ.get(\"MALLOC_TRIM_THRESHOLD_\"))"
        out = _child("from slimtrain.threads import use_retaining_allocator as u; "
                     f"u(['-c', '{probe}']); print('not re-executed')", {})
        self.assertEqual(out, f"{32 << 20} {1 << 40}")

    def test_the_process_reexecutes_under_jemalloc_when_asked(self):
        from slimtrain.threads import kJemalloc
        lib = next((p for p in kJemalloc if os.path.exists(p)), None)
        if lib is None:
            self.skipTest("libjemalloc2 not installed")
        out = _child("from slimtrain.threads import use_retaining_allocator as u; "
                     "u(['-c', 'import os; print(os.environ[\"LD_PRELOAD\"], os.environ[\"MALLOC_CONF\"])']); "
                     "print('not re-executed')", {"SLIMTRAIN_ALLOCATOR": "jemalloc"})
        self.assertEqual(out, f"{lib} dirty_decay_ms:-1,muzzy_decay_ms:-1")

    def test_an_unknown_allocator_is_an_error(self):
        with self.assertRaises(subprocess.CalledProcessError) as e:
            _child("from slimtrain.threads import use_retaining_allocator as u; u([])", {"SLIMTRAIN_ALLOCATOR": "tc"})
        self.assertIn("SLIMTRAIN_ALLOCATOR=tc: expected glibc, jemalloc or system", e.exception.stderr)

if __name__ == "__main__":
    unittest.main()
