"""Threads, denormals and devices: the settings every torch and numba part follows."""

import numpy as np
import pytest

from conftest import run_cli
from structid import runtime
from structid.errors import InputError
from structid.lattices import gaussian_noise, lattice
from structid.registry import get_classifier


@pytest.fixture(autouse=True)
def restore():
    yield
    runtime.configure(None, "cpu")


def test_threads_follow_the_configuration_and_default_to_the_available_cores():
    import numba

    torch = runtime.torch_ready()
    assert runtime.threads() == runtime.available_cores() >= 1
    assert torch.get_num_threads() == runtime.threads()
    runtime.configure(threads=1)
    assert runtime.torch_ready().get_num_threads() == 1 and numba.get_num_threads() == 1
    assert runtime.cpu_model()


def test_denormals_are_flushed_on_x86():
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("flushing denormals is checked on x86-64")
    torch = runtime.torch_ready()
    assert runtime.denormals_flushed()
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # a float32 denormal
    assert float(tiny * 1.0) == 0.0


def test_the_labels_do_not_depend_on_threads():
    frame = gaussian_noise(lattice("hcp", 2.9, 6), 0.15, 0)
    model = get_classifier("nmcnn")
    many = model.classify(frame)
    runtime.configure(threads=1)
    one = model.classify(frame)
    np.testing.assert_array_equal(one.codes, many.codes)
    np.testing.assert_allclose(one.probabilities, many.probabilities, atol=1e-5)


def test_bad_settings():
    with pytest.raises(InputError, match="--threads must be at least 1, got 0"):
        runtime.configure(threads=0)
    with pytest.raises(InputError, match="--device must be one of cpu, cuda, mps, got 'tpu'"):
        runtime.configure(device="tpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="--device cuda: no CUDA device is available"):
            runtime.configure(device="cuda")


def test_command_line_options(tmp_path):
    from structid.io.writers import write_frames

    path = write_frames(tmp_path / "x.extxyz", lattice("fcc", 2.5, 3))
    ok = run_cli("classify", path, "-m", "nmcnn", "--threads", "1", "--device", "cpu", "-o", tmp_path / "o.extxyz")
    assert ok.returncode == 0, ok.stderr
    bad = run_cli("classify", path, "--threads", "0", "-o", tmp_path / "p.extxyz")
    assert bad.returncode == 2 and bad.stderr.strip() == "structid: error: --threads must be at least 1, got 0"


def test_freed_memory_is_kept_for_reuse_on_glibc():
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert runtime.keep_freed_memory()
