"""Native parts of the build; metadata is in pyproject.toml.

* ``sealio._native``: the cffi extension over ``csrc/``.
* ``java/``: copied into the package as ``sealio/_java`` so a wheel carries
  the Java sources that ``sealio.spark`` compiles on first use (into the
  user's cache directory, never into site-packages).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithJava(build_py):
    def run(self) -> None:
        super().run()
        src = HERE / "java"
        if not src.is_dir():
            return
        dst = Path(self.build_lib) / "sealio" / "_java"
        for f in sorted(src.rglob("*.java")):
            target = dst / f.relative_to(src)
            self.mkpath(str(target.parent))
            self.copy_file(str(f), str(target))


setup(
    cffi_modules=["csrc/ffi_build.py:ffibuilder"],
    cmdclass={"build_py": BuildPyWithJava},
)
