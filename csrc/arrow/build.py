"""Build of ``sealio.fs._native_arrow`` (the native sealed Arrow filesystem):
Cython over csrc/arrow/sealed_fs.cc and the C core, against the pyarrow
importable here (its headers and its libraries, linked by their exact
file names so no symlinks are needed; ``PYARROW_VERSION`` is recorded and
checked at import by :mod:`sealio.fs.native`).

setup.py calls :func:`extension` (None when Cython or pyarrow is missing:
the package then uses the Python path). For development, build in place:

    python csrc/arrow/build.py     # puts python/sealio/fs/_native_arrow*.so in place (by rename)
"""

from __future__ import annotations

import glob
import os
import pathlib
import sys
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYX = "python/sealio/fs/_native_arrow.pyx"
PXI = ROOT / "python/sealio/fs/_native_arrow_build.pxi"
NAME = "sealio.fs._native_arrow"


def core_sources() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.c"))


def _libraries(pa: Any) -> list[str]:
    """``-l:libarrow.so.NNNN`` style flags for pyarrow's own library files."""
    flags = []
    for name in ("arrow_python", "arrow"):
        found = sorted((p for d in pa.get_library_dirs() for p in glob.glob(os.path.join(d, f"lib{name}.so*"))),
                       key=len)
        if not found:
            raise FileNotFoundError(f"pyarrow ships no lib{name}.so")
        flags.append(f"-l:{os.path.basename(found[0])}")
    return flags


def extension() -> Any:
    """The Extension (cythonized), or None when it cannot be built here."""
    if os.environ.get("SEALIO_ARROW_NATIVE", "") == "0" or not sys.platform.startswith("linux"):
        return None
    try:
        import numpy  # pyarrow's .pxd files pull in its NumPy interop headers
        import pyarrow as pa
        from Cython.Build import cythonize
        from setuptools import Extension
    except ImportError as e:
        print(f"sealio: not building the native Arrow filesystem ({e}); the Python path is used", file=sys.stderr)
        return None
    PXI.write_text(f"PYARROW_VERSION = {pa.__version__!r}\n")
    lib_dirs = pa.get_library_dirs()
    ext = Extension(
        NAME,
        sources=[PYX, "csrc/arrow/sealed_fs.cc"],
        include_dirs=[pa.get_include(), numpy.get_include(), "csrc/include", "csrc/arrow"],
        library_dirs=lib_dirs,
        language="c++",
        extra_compile_args=["-std=c++20", "-O2", "-fvisibility=hidden", "-Wno-unused-function"],
        extra_link_args=[*_libraries(pa), "-Wl,-rpath,$ORIGIN/../../pyarrow", "-pthread"],
        define_macros=[("_GLIBCXX_USE_CXX11_ABI", "1")],
    )
    return cythonize([ext], include_path=[os.path.dirname(pa.__file__)], language_level=3, quiet=True)[0]


def core_library() -> tuple[str, dict[str, Any]]:
    """The C core as a static library for the extension (build_clib)."""
    sys.path.insert(0, str(HERE.parent))
    try:
        from ffi_build import _flags  # the same flags as the cffi module
    finally:
        sys.path.pop(0)
    cflags, _ = _flags()
    return ("sealio_core_pic", {"sources": core_sources(), "include_dirs": ["csrc/include", "csrc"],
                                "cflags": [*cflags, "-fPIC"]})


def main() -> None:
    """Build in place (development)."""
    from setuptools import Distribution

    os.chdir(ROOT)
    ext = extension()
    if ext is None:
        raise SystemExit("cannot build the native Arrow filesystem here")
    dist = Distribution({"name": "sealio-native-arrow", "ext_modules": [ext], "libraries": [core_library()],
                         "package_dir": {"": "python"}})
    build_clib = dist.get_command_obj("build_clib")
    build_clib.build_temp = "build/native-arrow"
    build_ext = dist.get_command_obj("build_ext")
    build_ext.build_temp = "build/native-arrow"
    build_ext.build_lib = "build/native-arrow/lib"
    dist.run_command("build_clib")  # build_ext then links the library build_clib made
    dist.run_command("build_ext")
    built = build_ext.get_ext_fullpath(NAME)
    # Renamed into place: processes that have the old one loaded keep it.
    os.replace(built, ROOT / "python/sealio/fs" / os.path.basename(built))


if __name__ == "__main__":
    main()
