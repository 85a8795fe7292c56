"""Build of the cffi extension ``sealio._native``; metadata is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["csrc/ffi_build.py:ffibuilder"])
