"""Packaging that builds anywhere (issue 11 item 4).

* The portable build (no x86 kernels) compiles, links and runs on the
  ``cryptography`` backend: built here with ``SEALIO_PORTABLE=1``, and the C
  core cross-compiled for non-x86 targets when clang can.
* The cffi cdef is generated from ``csrc/include/sealio.h``: every
  declaration and constant of the header reaches the binding.
* The Spark Java sources are found as package data or in the checkout and
  built into the user's cache directory.

The full sdist/wheel install into fresh venvs is ``tools/check-packaging``
(minutes, needs the package index), run by ``tools/run-tests``.
"""

from __future__ import annotations

import importlib
import os
import re
import runpy
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CSRC = ROOT / "csrc"
PKG = ROOT / "python" / "sealio"


# ------------------------------------------------------------ portable build


@pytest.fixture(scope="module")
def portable_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the package whose ``_native`` is the SEALIO_PORTABLE build."""
    tmp = tmp_path_factory.mktemp("portable")
    dest = tmp / "so"
    dest.mkdir()
    env = dict(os.environ, SEALIO_PORTABLE="1", PYTHON=sys.executable)
    env.pop("SEALIO_SANITIZE", None)
    proc = subprocess.run([str(ROOT / "tools" / "build-native"), str(dest)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    tree = tmp / "site"
    shutil.copytree(PKG, tree / "sealio",
                    ignore=shutil.ignore_patterns("_native*.so", "__pycache__"))
    for so in dest.glob("_native*.so"):
        shutil.copy2(so, tree / "sealio" / so.name)
    return tree


def _run_py(code: str, path: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(path))
    env.pop("SEALIO_KERNEL", None)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def test_portable_build_runs_on_the_fallback(portable_tree: Path) -> None:
    out = _run_py("""
        import os
        import sealio
        from sealio import primitives as p
        from sealio._native import ffi, lib
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        assert sealio.__file__.startswith(os.getcwd()), sealio.__file__
        info = p.cpu_features()
        assert info["native_extension"] is True, info
        assert info["available_kernels"] == ["fallback"], info
        assert info["kernel"] == "fallback", info
        assert lib.sealio_kernel_best() == 0
        status = ffi.new("int *")
        for new in (lib.sealio_gcm_new, lib.sealio_cbc_new):
            assert new(bytes(32), 32, lib.SEALIO_KERNEL_AUTO, status) == ffi.NULL
            assert status[0] == lib.SEALIO_ERR_UNSUPPORTED
        key, nonce = os.urandom(32), os.urandom(12)
        for n in (0, 1, 16, 1000):
            msg = os.urandom(n)
            sealed = p.aes_gcm_encrypt(key, nonce, msg, aad=b"aad")
            assert sealed == AESGCM(key).encrypt(nonce, msg, b"aad")
            assert p.aes_gcm_decrypt(key, nonce, sealed, aad=b"aad") == msg
        print("portable ok")
    """, portable_tree)
    assert "portable ok" in out


_TARGETS = ("aarch64-unknown-none", "riscv64-unknown-none")
# Just enough of libc for csrc/ without a target sysroot: declarations only.
_STUB_HEADERS = {
    "string.h": "#include <stddef.h>\nvoid *memcpy(void *, const void *, size_t);\n"
                "void *memmove(void *, const void *, size_t);\n"
                "void *memset(void *, int, size_t);\nint memcmp(const void *, const void *, size_t);\n",
    "stdlib.h": "#include <stddef.h>\nvoid *malloc(size_t);\nvoid free(void *);\n"
                "_Noreturn void abort(void);\n"
                "void qsort(void *, size_t, size_t, int (*)(const void *, const void *));\n"
                "int posix_memalign(void **, size_t, size_t);\n",
    "unistd.h": "#define _SC_PAGESIZE 30\nlong sysconf(int);\n",
    "pthread.h": "typedef unsigned long pthread_t;\ntypedef struct { int x; } pthread_attr_t;\n"
                 "int pthread_create(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);\n"
                 "int pthread_join(pthread_t, void **);\n",
}


@pytest.mark.parametrize("target", _TARGETS)
def test_c_core_cross_compiles_without_x86(tmp_path: Path, target: str) -> None:
    """Every C file compiles for a non-x86 target: <immintrin.h>, the x86
    target attributes and CPUID would each be an error there."""
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang not installed")
    probe = subprocess.run([clang, f"--target={target}", "-ffreestanding", "-x", "c", "-c",
                            "-", "-o", os.devnull], input="int x;", text=True,
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"clang cannot target {target}")
    resource = subprocess.run([clang, "-print-resource-dir"], capture_output=True,
                              text=True, check=True).stdout.strip()
    for name, text in _STUB_HEADERS.items():
        (tmp_path / name).write_text(text)
    for src in sorted(CSRC.glob("*.c")):
        proc = subprocess.run(
            [clang, f"--target={target}", "-std=gnu11", "-ffreestanding", "-nostdinc",
             "-isystem", f"{resource}/include", "-isystem", str(tmp_path),
             "-Wall", "-Wextra", "-Werror", "-I", str(CSRC / "include"), "-I", str(CSRC),
             "-c", str(src), "-o", str(tmp_path / (src.stem + ".o"))],
            capture_output=True, text=True)
        assert proc.returncode == 0, f"{src.name} for {target}:\n{proc.stderr[-3000:]}"


def test_portable_objects_carry_no_aes_instructions(tmp_path: Path) -> None:
    """With SEALIO_NO_X86 on x86 no AES/CLMUL instruction or CPUID is emitted."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    objdump = shutil.which("objdump")
    if cc is None or objdump is None:
        pytest.skip("needs a C compiler and objdump")
    objs = []
    for src in sorted(CSRC.glob("*.c")):
        obj = tmp_path / (src.stem + ".o")
        subprocess.run([cc, "-std=gnu11", "-O2", "-DSEALIO_NO_X86", "-Wall", "-Werror",
                        "-I", str(CSRC / "include"), "-I", str(CSRC), "-c", str(src),
                        "-o", str(obj)], check=True, capture_output=True, text=True)
        objs.append(str(obj))
    dis = subprocess.run([objdump, "-d", *objs], check=True, capture_output=True,
                         text=True).stdout.lower()
    for insn in ("aesenc", "aesdec", "aeskeygenassist", "pclmul", "cpuid", "xgetbv"):
        assert insn not in dis, insn


# ------------------------------------------------------- cdef from sealio.h

HEADER = CSRC / "include" / "sealio.h"


def _header_text() -> str:
    text = re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)
    return re.sub(r"#\s*ifdef\s+__cplusplus.*?#\s*endif", "", text, flags=re.S)


def _header_functions() -> set[str]:
    return set(re.findall(r"\b(sealio_\w+)\s*\(", _header_text()))


def _header_constants() -> dict[str, int | None]:
    """Every SEALIO_* macro and enum constant with its value (None where
    the value is an expression only the compiler evaluates)."""
    text = _header_text()
    out: dict[str, int | None] = {}
    for name, value in re.findall(r"#\s*define\s+(SEALIO_\w+)[ \t]+([^\n]+)", text):
        value = value.strip()
        if "__attribute__" in value:
            continue
        out[name] = int(value, 0) if re.fullmatch(r"-?\d+", value) else None
    for body in re.findall(r"enum\s*{(.*?)}", text, flags=re.S):
        for name, value in re.findall(r"(SEALIO_\w+)\s*=\s*([^,]+)", body):
            out[name] = int(eval(re.sub(r"(\d)[uU]", r"\1", value), {}))  # literals only
    return out


def _header_structs() -> dict[str, list[str]]:
    structs = {}
    for body, name in re.findall(r"typedef struct \w+ {(.*?)} (\w+);", _header_text(), flags=re.S):
        structs[name] = re.findall(r"(\w+)\s*;", body)
    return structs


def test_generated_cdef_covers_the_header() -> None:
    build = runpy.run_path(str(CSRC / "ffi_build.py"))
    cdef = build["CDEF"]
    for name in _header_functions():
        assert re.search(rf"\b{name}\s*\(", cdef), name
    for name in _header_constants():
        assert re.search(rf"\b{name}\b", cdef), name
    assert "SEALIO_WUR" not in cdef and "extern" not in cdef and "#include" not in cdef


def test_generated_cdef_follows_a_changed_header() -> None:
    """A declaration or constant added to the header reaches the cdef
    without touching ffi_build.py (nothing to keep in step by hand)."""
    gen = runpy.run_path(str(CSRC / "ffi_build.py"))["cdef_from_header"]
    text = HEADER.read_text().replace(
        "void sealio_wipe(void *p, size_t len);",
        "void sealio_wipe(void *p, size_t len);\n#define SEALIO_NEW_CONST 5\n"
        "int sealio_new_call(const uint8_t *p, size_t n) SEALIO_WUR;")
    cdef = gen(text)
    assert "#define SEALIO_NEW_CONST 5" in cdef
    assert "int sealio_new_call(const uint8_t *p, size_t n);" in cdef
    from cffi import FFI

    FFI().cdef(cdef)  # cffi parses what the generator makes


def test_built_binding_matches_the_header() -> None:
    """The installed binding exposes exactly the header's functions and
    constants, with the header's values: a header edited without a rebuild
    (tools/dev-build) fails here."""
    native = importlib.import_module("sealio._native")
    lib, ffi = native.lib, native.ffi
    names = set(dir(lib))
    funcs = _header_functions()
    consts = _header_constants()
    assert funcs <= names, f"not in the build (rebuild: tools/dev-build): {sorted(funcs - names)}"
    assert set(consts) <= names, f"not in the build: {sorted(set(consts) - names)}"
    assert names <= funcs | set(consts), f"not in sealio.h: {sorted(names - funcs - set(consts))}"
    for name, value in consts.items():
        if value is not None:
            assert getattr(lib, name) == value, name
    assert lib.sealio_abi_version() == lib.SEALIO_ABI_VERSION == consts["SEALIO_ABI_VERSION"]
    for struct, fields in _header_structs().items():
        assert [f for f, _ in ffi.typeof(struct).fields] == fields, struct


# ------------------------------------------------------------ Java sources


def _jvm():  # imported late: sealio.spark needs pyspark only for the jar itself
    return importlib.import_module("sealio.spark._jvm")


def test_java_sources_found_in_the_checkout() -> None:
    src = _jvm().java_source_dir()
    assert src == ROOT / "java" or src.parent.name == "sealio", src
    assert (src / "io/sealio/parquet/SealioKmsClient.java").is_file()


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    jvm = _jvm()
    monkeypatch.delenv("SEALIO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert jvm.cache_dir() == tmp_path / "xdg" / "sealio"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # the XDG spec: ignore a relative path
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert jvm.cache_dir() == tmp_path / "home" / ".cache" / "sealio"
    monkeypatch.setenv("SEALIO_CACHE_DIR", str(tmp_path / "own"))
    assert jvm.cache_dir() == tmp_path / "own"


def test_jar_is_built_into_the_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    jvm = _jvm()
    try:
        jvm._java_tool("javac")
    except Exception:
        pytest.skip("no JDK")
    monkeypatch.setenv("SEALIO_CACHE_DIR", str(tmp_path / "cache"))
    jar = jvm.kms_client_jar()
    assert jar.is_file() and jar.is_relative_to(tmp_path / "cache" / "java"), jar
    assert jvm.kms_client_jar() == jar  # cached: the second call does not rebuild
    import zipfile

    with zipfile.ZipFile(jar) as zf:
        assert "io/sealio/parquet/SealioKmsClient.class" in zf.namelist()


def test_header_abi_is_the_one_python_expects() -> None:
    """Bumping SEALIO_ABI_VERSION in sealio.h needs the Python side
    (hazmat.kernel.EXPECTED_ABI) updated with it, and the other way round."""
    kernel = importlib.import_module("sealio.hazmat.kernel")
    assert _header_constants()["SEALIO_ABI_VERSION"] == kernel.EXPECTED_ABI
