# cython: language_level=3
# distutils: language = c++
"""The compiled half of :mod:`sealio.fs.native`: the C++ sealed filesystem
(csrc/arrow/sealed_fs.cc) as a ``pyarrow.fs.PyFileSystem`` subclass, built
against the pyarrow that was installed at build time (``PYARROW_VERSION``;
:mod:`sealio.fs.native` refuses a different one at run time)."""

from cpython.ref cimport PyObject
from libcpp.memory cimport shared_ptr

from pyarrow.includes.libarrow_fs cimport CFileSystem
from pyarrow._fs cimport FileSystem, PyFileSystem

include "_native_arrow_build.pxi"  # PYARROW_VERSION, written by setup.py

cdef extern from "sealed_fs.h" namespace "sealio_arrow" nogil:
    shared_ptr[CFileSystem] MakeSealedFileSystem(PyObject* handler, PyObject* hooks,
                                                 shared_ptr[CFileSystem] inner,
                                                 shared_ptr[CFileSystem] base, int threads) except +
    int KernelAvailable()
    long long LiveFiles()
    long long WritebacksStarted()
    long long SegmentsDecrypted(const shared_ptr[CFileSystem]& fs)


def kernel_available():
    """Whether the C core has a GCM kernel on this CPU."""
    return KernelAvailable() == 1


def live_files():
    """Native files alive now (the exit hook waits for Arrow to drop them)."""
    return LiveFiles()


def writebacks_started():
    """Writebacks the native writers started (every 32 MiB of a durable local file)."""
    return WritebacksStarted()


cdef class NativeSealedFileSystem(PyFileSystem):
    """A sealed filesystem whose files are read and written in C++.

    ``handler``: the Python handler of the same policy (listings, sizes,
    directory operations, pickling); ``hooks``: its per-open key hooks;
    ``inner``: ``PyFileSystem(handler)``; ``base``: the native base
    filesystem; ``threads``: decryption threads of one large read."""

    def __init__(self, handler, hooks, FileSystem inner not None, FileSystem base not None, int threads):
        self.init(MakeSealedFileSystem(<PyObject*>handler, <PyObject*>hooks, inner.unwrap(), base.unwrap(),
                                       threads))

    @property
    def segments_decrypted(self):
        """Segments this filesystem's files decrypted (tests, benchmarks)."""
        return SegmentsDecrypted(self.unwrap())

    def __reduce__(self):
        from sealio.fs.native import restore
        return restore, (self.handler,)
