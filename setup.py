"""Native parts of the build; metadata is in pyproject.toml.

* ``sealio._native``: the cffi extension over ``csrc/``.
* ``sealio.fs._native_arrow``: the native sealed Arrow filesystem
  (csrc/arrow/, Cython against the pyarrow the build sees; see
  csrc/arrow/build.py). Optional: without Cython, pyarrow's headers or a
  C++ compiler the package installs without it and uses the Python path.
* ``java/``: copied into the package as ``sealio/_java`` so a wheel carries
  the Java sources that ``sealio.spark`` compiles on first use (into the
  user's cache directory, never into site-packages).
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "csrc" / "arrow"))
import build as native_arrow  # noqa: E402  (csrc/arrow/build.py)

sys.path.pop(0)


class BuildPyWithJava(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable install imports the source tree, which nothing byte-compiles where
            # PYTHONDONTWRITEBYTECODE is set (as on these machines): every `sealio` command then
            # compiled its ~60 modules again, 30 ms of a 90 ms start. pip compiles a regular
            # install; this does the same for the tree (a stale file is recompiled in memory).
            import compileall

            compileall.compile_dir(str(HERE / "python" / "sealio"), quiet=1)
        src = HERE / "java"
        if not src.is_dir():
            return
        dst = Path(self.build_lib) / "sealio" / "_java"
        for f in sorted(src.rglob("*.java")):
            target = dst / f.relative_to(src)
            self.mkpath(str(target.parent))
            self.copy_file(str(f), str(target))
        # The JNI library of the sealed:// Hadoop filesystem is compiled on
        # first use from the C core and its glue (sealio.spark.native_fs).
        csrc = HERE / "csrc"
        dst = Path(self.build_lib) / "sealio" / "_csrc"
        for pattern in ("*.c", "*.h", "include/*.h", "jni/*.c"):
            for f in sorted(csrc.glob(pattern)):
                target = dst / f.relative_to(csrc)
                self.mkpath(str(target.parent))
                self.copy_file(str(f), str(target))


class OptionalNativeArrow(build_ext):
    """The native Arrow filesystem may fail to build; the package does not."""

    def build_extension(self, ext) -> None:
        if ext.name != native_arrow.NAME:
            return super().build_extension(ext)
        try:
            super().build_extension(ext)
        except Exception as e:  # noqa: BLE001 - any compiler or linker failure
            print(f"sealio: the native Arrow filesystem did not build ({e}); the Python path is used",
                  file=sys.stderr)


ext = native_arrow.extension()
setup(
    cffi_modules=["csrc/ffi_build.py:ffibuilder"],
    ext_modules=[ext] if ext is not None else [],
    libraries=[native_arrow.core_library()] if ext is not None else [],
    cmdclass={"build_py": BuildPyWithJava, "build_ext": OptionalNativeArrow},
)
