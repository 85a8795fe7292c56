"""Every ``sealio`` command pays for the modules its start imports (about
0.15 s of a 0.5 s ``sealio encrypt`` of 500 MB here, issue 14), so the
packages import their parts on first use. These tests pin what a start
must not load, and that the lazy names still resolve."""

from __future__ import annotations

import os
import subprocess
import sys

import sealio
import sealio.bigdl
import sealio.io


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          check=True)
    return set(done.stdout.split())


def test_the_cli_parser_loads_no_bigdl_format_pyarrow_or_package_metadata() -> None:
    mods = _loaded_after("from sealio.cli import build_parser\nbuild_parser().parse_args(['verify', 'x'])")
    assert "sealio.cli.files" in mods and "sealio.bigdl.formats" in mods  # the parser is whole
    unwanted = {"importlib.metadata", "pyarrow", "sealio.bigdl.common", "sealio.bigdl.dataset",
                "sealio.cli.bigdl", "sealio.spark", "sealio.fs"}
    assert not unwanted & mods


def test_the_primitives_load_without_the_io_and_key_layers() -> None:
    mods = _loaded_after("from sealio.hazmat import AesGcm\nAesGcm(bytes(32))")
    assert not {m for m in mods if m.startswith(("sealio.io", "sealio.kms", "sealio.keys", "sealio.cli"))}


def test_version_is_printed_on_stdout() -> None:
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "sealio.cli", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == f"sealio {version('sealio')}"


def test_every_exported_name_resolves() -> None:
    for package in (sealio, sealio.io, sealio.bigdl):
        for name in package.__all__:
            assert getattr(package, name) is not None, (package.__name__, name)
            assert name in dir(package)
    assert sealio.open is sealio.io.open
    assert sealio.bigdl.FORMATS == ("common", "native", "legacy-2.1", "legacy-2.2")


def test_unknown_names_are_attribute_errors() -> None:
    import pytest

    for package in (sealio, sealio.io, sealio.bigdl):
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            package.nope  # noqa: B018


def test_encrypt_and_verify_with_a_local_keyring_load_no_cryptography_dataclasses_or_tempfile(tmp_path) -> None:
    """The key path (HKDF, key wrap) runs on the standard library and the C
    core: ``cryptography`` (~10 ms), ``dataclasses`` (6 ms), ``tempfile``
    (3 ms) and ``concurrent.futures`` with ``logging`` (~8 ms; the
    whole-file commands start their own threads) were most of what a start
    imported beyond the package itself.
    Only a passphrase keyring (scrypt) or the fallback kernel needs
    ``cryptography``."""
    from sealio.hazmat import kernel

    (tmp_path / "plain").write_bytes(b"x" * 100_000)
    ring = tmp_path / "ring.json"
    code = (f"from sealio.cli import main\n"
            f"assert main(['keygen', '-q', '--keyring', {str(ring)!r}, '--default', 'm']) == 0\n"
            f"assert main(['encrypt', '-q', '--keyring', {str(ring)!r}, {str(tmp_path / 'plain')!r}, "
            f"{str(tmp_path / 'out')!r}]) == 0\n"
            f"assert main(['verify', '-q', '--keyring', {str(ring)!r}, {str(tmp_path / 'out')!r}]) == 0\n"
            f"assert main(['decrypt', '-q', '--keyring', {str(ring)!r}, {str(tmp_path / 'out')!r}, "
            f"{str(tmp_path / 'back')!r}]) == 0")
    mods = _loaded_after(code)
    unwanted = {"dataclasses", "tempfile", "inspect", "concurrent.futures", "logging"}  # (argparse imports shutil)
    if kernel.resolve(None) != "fallback":
        unwanted |= {"cryptography", "sealio.hazmat.fallback"}
    assert not unwanted & mods, unwanted & mods


def test_the_installed_package_is_byte_compiled() -> None:
    """Where PYTHONDONTWRITEBYTECODE is set (as on the project's machines),
    nothing writes .pyc files for an editable install's source tree unless
    the build does (setup.py): without them every command compiled ~60
    modules again, 30 ms of each start. pip compiles a regular install."""
    import importlib.util

    import sealio.cli.files

    for module in (sealio, sealio.cli.files):
        cached = importlib.util.cache_from_source(module.__file__)
        assert os.path.exists(cached), f"{cached} is missing: the install did not byte-compile sealio"
