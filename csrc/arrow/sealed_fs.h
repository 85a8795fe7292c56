// sealio for Arrow, native side: an arrow::fs::FileSystem whose files are
// sealed files (docs/FORMAT.md) in a native base filesystem, with files
// (arrow::io::RandomAccessFile / OutputStream) that call the C core
// (csrc/include/sealio.h) straight from Arrow's I/O threads.
//
// Division of labour. Python does what is per file and policy: header
// parsing and authentication with the KMS (once per open), sealing a new
// header, the listing rules (sizes, hidden temporaries), the atomic publish
// of local files, and the error a failure raises. C++ does what is per
// read or write: ciphertext I/O on the base file and GCM over segments. So
// a scan makes one Python call per file it opens and none per read.
//
// The filesystem derives from arrow::py::fs::PyFileSystem (type name
// "py::sealio+native+..."), holding the Python handler of the same
// policy: pyarrow then wraps it back as a PyFileSystem whose `handler` is
// that handler, and every operation other than opening a file is the
// handler's (through `inner`, a PyFileSystem over it).
//
// Licensed under the Apache License, Version 2.0.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <memory>
#include <string>
#include <vector>

#include "arrow/filesystem/filesystem.h"
#include "arrow/python/filesystem.h"

namespace sealio_arrow {

// A new reference to a Python object, released with the GIL only while
// the interpreter is not finalizing (then it is left alone: taking the
// GIL there kills the thread, pyarrow #45214).
class PyRef {
 public:
  PyRef() = default;
  explicit PyRef(PyObject* obj);  // takes a new reference (caller holds the GIL)
  ~PyRef();
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  PyObject* get() const { return obj_; }

 private:
  PyObject* obj_ = nullptr;
};

// Python's part: `hooks` is a sealio.fs.native.NativeHooks.
struct Hooks {
  std::shared_ptr<PyRef> obj;
};

// The filesystem. `handler` is the Python handler (policy), `hooks` its
// native hooks, `inner` a PyFileSystem over `handler` (for every
// operation but opening files), `base` the native base filesystem and
// `threads` the threads that decrypt one large read (the reader and up to
// threads - 1 helpers from Arrow's CPU pool).
std::shared_ptr<arrow::fs::FileSystem> MakeSealedFileSystem(
    PyObject* handler, PyObject* hooks, std::shared_ptr<arrow::fs::FileSystem> inner,
    std::shared_ptr<arrow::fs::FileSystem> base, int threads);

// 1 if the C core has a GCM kernel on this CPU (else the native path
// cannot decrypt and Python's path is used).
int KernelAvailable();

// Native files now alive (opened and not yet destroyed).
int64_t LiveFiles();

// Writebacks started by native writers of durable local files (every 32 MiB).
int64_t WritebacksStarted();

// Segments decrypted by the files of `fs` (a sealed filesystem; else -1).
int64_t SegmentsDecrypted(const std::shared_ptr<arrow::fs::FileSystem>& fs);

}  // namespace sealio_arrow
