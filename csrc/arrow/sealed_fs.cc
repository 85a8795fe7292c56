// sealio for Arrow, native side; see sealed_fs.h for the division of
// labour with Python. Layout arithmetic follows docs/FORMAT.md sections 6
// and 7: header 1024 bytes, segment i at 1024 + i * (seg + 16), nonce
// prefix || BE32(i) || last, the final segment authenticated at open.
//
// Licensed under the Apache License, Version 2.0.
#include "sealed_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "arrow/buffer.h"
#include "arrow/io/file.h"
#include "arrow/io/interfaces.h"
#include "arrow/python/common.h"
#include "arrow/result.h"
#include "arrow/status.h"
#include "arrow/util/thread_pool.h"
#include "sealio.h"

namespace sealio_arrow {

namespace {

using arrow::Buffer;
using arrow::Result;
using arrow::Status;

constexpr int64_t kHeaderSize = 1024;
constexpr int64_t kTag = SEALIO_GCM_TAG_BYTES;
constexpr int64_t kWriteBatch = 4 << 20;     // plaintext sealed per C call when writing
constexpr int64_t kParallelMin = 1 << 20;    // reads this large decrypt on `threads` threads
constexpr int64_t kChunk = 512 << 10;        // ciphertext per base read of a large read (stays in L2)
constexpr int64_t kWriteback = 32 << 20;     // a durable local file starts writeback every this many bytes

// Native files alive (the exit hook waits for Arrow to release them).
std::atomic<int64_t> g_live{0};
// Writebacks the native writers have started (tests: a long durable write starts some).
std::atomic<int64_t> g_writebacks{0};

struct LiveCount {
  LiveCount() { g_live.fetch_add(1); }
  ~LiveCount() { g_live.fetch_sub(1); }
  LiveCount(const LiveCount&) = delete;
  LiveCount& operator=(const LiveCount&) = delete;
};

bool Finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing();
#else
  return _Py_IsFinalizing();
#endif
}

// Run `fn` (returning Status or Result) with the GIL, unless the
// interpreter is exiting: then fail without touching Python.
template <typename Fn>
auto CallPython(Fn&& fn) -> decltype(fn()) {
  if (!Py_IsInitialized() || Finalizing()) {
    return Status::Cancelled("sealio: the interpreter is exiting");
  }
  return arrow::py::SafeCallIntoPython(std::forward<Fn>(fn));
}

struct GcmFree {
  void operator()(sealio_gcm* ctx) const { sealio_gcm_free(ctx); }
};
using Gcm = std::unique_ptr<sealio_gcm, GcmFree>;

// The per-file keys Python hands over: the segment key goes straight into
// a C-core context (page-aligned, wiped on free); Python's bytes object is
// Python's to drop, as on Python's own read path.
struct FileKey {
  Gcm gcm;
  uint8_t prefix[SEALIO_STREAM_PREFIX_BYTES];
  int64_t seg = 0;
};

Status ParseKey(PyObject* k_seg, PyObject* prefix, PyObject* seg, FileKey* out) {
  char* kp;
  Py_ssize_t kn;
  char* pp;
  Py_ssize_t pn;
  if (PyBytes_AsStringAndSize(k_seg, &kp, &kn) < 0 || PyBytes_AsStringAndSize(prefix, &pp, &pn) < 0) {
    return arrow::py::ConvertPyError();
  }
  if (pn != SEALIO_STREAM_PREFIX_BYTES) return Status::Invalid("sealio: bad nonce prefix length");
  out->seg = PyLong_AsLongLong(seg);
  if (out->seg == -1 && PyErr_Occurred()) return arrow::py::ConvertPyError();
  if (out->seg <= 0) return Status::Invalid("sealio: bad segment size");
  int status = 0;
  out->gcm.reset(sealio_gcm_new(reinterpret_cast<const uint8_t*>(kp), static_cast<size_t>(kn),
                                SEALIO_KERNEL_AUTO, &status));
  if (!out->gcm) return Status::IOError("sealio: no GCM kernel for the native path (status ", status, ")");
  std::memcpy(out->prefix, pp, SEALIO_STREAM_PREFIX_BYTES);
  return Status::OK();
}

// The IntegrityError Python raises for a failure `kind` at segment `index`
// (kinds: "segment", "final", "truncated", "shrunk"), as a Status that
// pyarrow turns back into that exception.
Status Failure(const std::shared_ptr<PyRef>& hooks, const std::string& path, const char* kind,
               int64_t index) {
  return CallPython([&]() -> Status {
    PyObject* r = PyObject_CallMethod(hooks->get(), "fail", "s#sL", path.data(),
                                      static_cast<Py_ssize_t>(path.size()), kind,
                                      static_cast<long long>(index));
    if (r == nullptr) return arrow::py::ConvertPyError(arrow::StatusCode::IOError);
    Py_DECREF(r);
    return Status::IOError("sealio: ", path, ": ", kind, " failure");  // hooks.fail always raises
  });
}

// ------------------------------------------------------------------ reads

class SealedInputFile : public arrow::io::RandomAccessFile {
  LiveCount live_;  // first: counted until the last member is gone

 public:
  SealedInputFile(std::shared_ptr<arrow::io::RandomAccessFile> base, FileKey key, int64_t size,
                  int64_t nseg, std::string path, std::shared_ptr<PyRef> hooks, int threads,
                  std::shared_ptr<std::atomic<int64_t>> decrypted)
      : decrypted_(std::move(decrypted)),
        base_(std::move(base)),
        key_(std::move(key)),
        size_(size),
        nseg_(nseg),
        path_(std::move(path)),
        hooks_(std::move(hooks)),
        threads_(threads < 1 ? 1 : threads) {}

  // Authenticate the final segment (FORMAT.md 3.1 step 9) and keep its
  // plaintext: every footer read is served from it.
  Status Open() {
    const int64_t first = nseg_ - 1;
    const int64_t plain = size_ - first * key_.seg;
    ARROW_ASSIGN_OR_RAISE(auto ct, base_->ReadAt(CtOffset(first), plain + kTag));
    if (ct->size() != plain + kTag) return Failure(hooks_, path_, "shrunk", first);
    ARROW_ASSIGN_OR_RAISE(auto out, arrow::AllocateBuffer(plain));
    if (Open(first, 1, true, ct->data(), ct->size(), out->mutable_data(), out->size(), 1) != SEALIO_OK) {
      // A whole segment that authenticates as a non-final one: the file was
      // cut at a segment boundary. The trial's plaintext is wiped.
      const char* kind = "final";
      if (plain == key_.seg &&
          Open(first, 1, false, ct->data(), ct->size(), out->mutable_data(), out->size(), 1) == SEALIO_OK) {
        kind = "truncated";
      }
      sealio_wipe(out->mutable_data(), static_cast<size_t>(out->size()));
      return Failure(hooks_, path_, kind, first);
    }
    decrypted_->fetch_add(1);
    final_ = std::shared_ptr<Buffer>(std::move(out));
    return Status::OK();
  }

  ~SealedInputFile() override { (void)base_->Close(); }

  Status Close() override {
    closed_ = true;
    return base_->Close();
  }
  bool closed() const override { return closed_; }

  Result<int64_t> Tell() const override {
    std::lock_guard<std::mutex> lock(pos_mutex_);
    return pos_;
  }
  Status Seek(int64_t position) override {
    if (position < 0) return Status::Invalid("sealio: negative seek");
    std::lock_guard<std::mutex> lock(pos_mutex_);
    pos_ = position;
    return Status::OK();
  }
  Result<int64_t> GetSize() override { return size_; }

  Result<int64_t> Read(int64_t nbytes, void* out) override {
    std::lock_guard<std::mutex> lock(pos_mutex_);
    ARROW_ASSIGN_OR_RAISE(int64_t n, ReadAt(pos_, nbytes, out));
    pos_ += n;
    return n;
  }
  Result<std::shared_ptr<Buffer>> Read(int64_t nbytes) override {
    std::lock_guard<std::mutex> lock(pos_mutex_);
    ARROW_ASSIGN_OR_RAISE(auto buf, ReadAt(pos_, nbytes));
    pos_ += buf->size();
    return buf;
  }

  Result<std::shared_ptr<Buffer>> ReadAt(int64_t position, int64_t nbytes) override {
    return ReadRange(position, nbytes);
  }

  // Arrow's read coalescing (ReadRangeCache, Parquet's pre_buffer) announces
  // the ranges it will read: pass on their ciphertext ranges, so the base
  // reads ahead (posix_fadvise on local disk).
  Status WillNeed(const std::vector<arrow::io::ReadRange>& ranges) override {
    std::vector<arrow::io::ReadRange> sealed;
    sealed.reserve(ranges.size());
    for (const auto& r : ranges) {
      if (r.offset < 0 || r.length <= 0 || r.offset >= size_) continue;
      const int64_t first = r.offset / key_.seg;
      const int64_t last = (std::min(r.offset + r.length, size_) - 1) / key_.seg;
      const int64_t file_end = CtOffset(nseg_ - 1) + (size_ - (nseg_ - 1) * key_.seg) + kTag;
      const int64_t end = std::min(CtOffset(last) + key_.seg + kTag, file_end);
      sealed.push_back({CtOffset(first), end - CtOffset(first)});
    }
    return base_->WillNeed(sealed);
  }
  Result<std::shared_ptr<Buffer>> ReadAt(int64_t position, int64_t nbytes,
                                         bool allow_short_read) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, ReadRange(position, nbytes));
    if (!allow_short_read && buf->size() < nbytes) return Status::IOError("sealio: read past the end of ", path_);
    return buf;
  }
  // Straight into the caller's memory (no buffer of our own, no copy).
  Result<int64_t> ReadAt(int64_t position, int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(nbytes, Clip(position, nbytes));
    if (nbytes > 0) ARROW_RETURN_NOT_OK(DecryptInto(position, nbytes, static_cast<uint8_t*>(out)));
    return nbytes;
  }
  Result<int64_t> ReadAt(int64_t position, int64_t nbytes, bool allow_short_read,
                         void* out) override {
    ARROW_ASSIGN_OR_RAISE(int64_t n, ReadAt(position, nbytes, out));
    if (!allow_short_read && n < nbytes) return Status::IOError("sealio: read past the end of ", path_);
    return n;
  }

 private:
  std::shared_ptr<std::atomic<int64_t>> decrypted_;  // the filesystem's count (tests, benchmarks)
  int64_t CtOffset(int64_t index) const { return kHeaderSize + index * (key_.seg + kTag); }

  int Open(int64_t first, int64_t count, bool final, const uint8_t* in, int64_t in_len, uint8_t* out,
           int64_t out_cap, unsigned threads, int64_t* bad = nullptr) const {
    sealio_segments p{};
    p.segment_size = static_cast<size_t>(key_.seg);
    p.prefix = key_.prefix;
    p.first_index = static_cast<uint32_t>(first);
    p.final = final ? 1 : 0;
    p.threads = threads;
    size_t plain = 0;
    size_t bad_segment = 0;
    (void)count;
    int rc = sealio_gcm_open_segments(key_.gcm.get(), &p, in, static_cast<size_t>(in_len), out,
                                      static_cast<size_t>(out_cap), &plain, &bad_segment);
    if (bad != nullptr) *bad = static_cast<int64_t>(bad_segment);
    return rc;
  }

  // Plaintext [position, position + nbytes) clipped to the file, in a new
  // buffer of exactly that size (DecryptInto); the final segment is a
  // slice of the copy authenticated at open.
  Result<std::shared_ptr<Buffer>> ReadRange(int64_t position, int64_t nbytes) {
    ARROW_ASSIGN_OR_RAISE(nbytes, Clip(position, nbytes));
    if (nbytes == 0) return std::make_shared<Buffer>(nullptr, 0);
    const int64_t final_start = (nseg_ - 1) * key_.seg;
    if (position >= final_start) return arrow::SliceBuffer(final_, position - final_start, nbytes);
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<Buffer> out, arrow::AllocateBuffer(nbytes));
    ARROW_RETURN_NOT_OK(DecryptInto(position, nbytes, out->mutable_data()));
    return out;
  }

  // The checks of every read; the length clipped to the file.
  Result<int64_t> Clip(int64_t position, int64_t nbytes) const {
    if (closed_) return Status::Invalid("sealio: I/O operation on closed sealed file");
    if (failed_.load()) return Failure(hooks_, path_, "sticky", failed_index_.load());
    if (position < 0 || nbytes < 0) return Status::Invalid("sealio: negative offset or length");
    if (position >= size_ || nbytes == 0) return 0;
    return std::min(nbytes, size_ - position);
  }

  // A worker's buffers: `ct` the ciphertext of one chunk (read from the
  // base, then decrypted while still in cache), `pt` one segment's
  // plaintext for a segment the range covers only in part (wiped after
  // each use, and when released).
  struct Scratch {
    std::unique_ptr<Buffer> ct;
    std::unique_ptr<Buffer> pt;
    ~Scratch() {
      if (pt) sealio_wipe(pt->mutable_data(), static_cast<size_t>(pt->size()));
    }
  };

  // The first thing that went wrong in a read: the lowest segment wins, so
  // any split of the work reports what one serial pass would.
  struct Fault {
    int64_t index = std::numeric_limits<int64_t>::max();
    const char* kind = nullptr;  // "segment" or "shrunk", else `status`
    Status status;
    bool any() const { return index != std::numeric_limits<int64_t>::max(); }
    void Note(int64_t at, const char* what, Status st = Status::OK()) {
      if (at >= index) return;
      index = at;
      kind = what;
      status = std::move(st);
    }
  };

  // One chunk: segments [c_first, c_first + c_count) (all non-final), of
  // which the read wants plaintext [lo, hi), written to `out` (plaintext
  // offset lo). One base read into s->ct, then the segments wholly inside
  // [lo, hi) decrypt straight into `out`; a segment cut by lo or hi goes
  // through s->pt. Segments are opened in order and the first failure
  // ends the chunk.
  void OpenChunk(int64_t c_first, int64_t c_count, int64_t lo, int64_t hi, uint8_t* out, Scratch* s,
                 Fault* fault) const {
    const int64_t seg = key_.seg;
    const int64_t stride = seg + kTag;
    const int64_t ct_len = c_count * stride;
    if (ct_len > s->ct->size()) {
      fault->Note(c_first, nullptr, Status::Invalid("sealio: chunk larger than its buffer"));
      return;
    }
    uint8_t* ct = s->ct->mutable_data();
    auto got = base_->ReadAt(CtOffset(c_first), ct_len, ct);
    if (!got.ok()) {
      fault->Note(c_first, nullptr, got.status());
      return;
    }
    if (*got != ct_len) {
      fault->Note(c_first, "shrunk");
      return;
    }
    // Segments wholly inside [lo, hi): [d0, d1).
    const int64_t d0 = std::max(c_first, (lo + seg - 1) / seg);
    const int64_t d1 = std::max(d0, std::min(c_first + c_count, hi / seg));
    auto open = [&](int64_t from, int64_t n, uint8_t* dst) -> bool {
      int64_t bad = 0;
      const uint8_t* in = ct + (from - c_first) * stride;
      const int rc = Open(from, n, false, in, n * stride, dst, n * seg, 1, &bad);
      if (rc == SEALIO_OK) return true;
      if (rc == SEALIO_ERR_AUTH) {
        fault->Note(from + bad, "segment");
      } else {
        fault->Note(from, nullptr, Status::IOError("sealio: segment decryption failed (", rc, ")"));
      }
      return false;
    };
    auto partial = [&](int64_t index) -> bool {  // segment `index`, cut by lo or hi
      if (!s->pt) {
        auto pt = arrow::AllocateBuffer(seg);
        if (!pt.ok()) {
          fault->Note(index, nullptr, pt.status());
          return false;
        }
        s->pt = std::move(*pt);
      }
      uint8_t* plain = s->pt->mutable_data();
      if (!open(index, 1, plain)) return false;
      const int64_t from = std::max(lo, index * seg);
      const int64_t to = std::min(hi, (index + 1) * seg);
      std::memcpy(out + (from - lo), plain + (from - index * seg), static_cast<size_t>(to - from));
      sealio_wipe(plain, static_cast<size_t>(seg));
      return true;
    };
    if (c_first < d0 && !partial(c_first)) return;  // cut by lo (or lo and hi: d0 == d1)
    if (d1 > d0 && !open(d0, d1 - d0, out + (d0 * seg - lo))) return;
    const int64_t c_last = c_first + c_count - 1;
    if (d1 <= c_last) (void)partial(c_last);  // cut by hi (d1 <= c_last only for the range's last segment)
  }

  // What the threads of one large read share. A helper that starts only
  // after every chunk is taken returns at once and touches nothing else,
  // so the reader never waits for one that has not started.
  struct Split {
    std::atomic<int64_t> next{0};  // the next chunk to take
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable finished;
    int64_t done = 0;  // chunks finished or skipped (under mutex)
    Fault fault;       // the lowest failure (under mutex)
  };

  // Take chunks of [first, first + count) in order until none is left.
  // One taken after a failure was noted is skipped (it lies above that
  // failure); any other is finished, so the lowest failing segment is
  // always seen. Static: `file` and `out` are touched only for a chunk
  // taken, while the reader waits for it (a late helper may outlive both).
  static void TakeChunks(const SealedInputFile* file, Split* split, int64_t first, int64_t count, int64_t per,
                         int64_t chunks, int64_t lo, int64_t hi, uint8_t* out) {
    Scratch s;
    for (;;) {
      const bool skip = split->stop.load();  // before taking: a failure noted now is below c
      const int64_t c = split->next.fetch_add(1);
      if (c >= chunks) return;
      Fault fault;
      if (!skip) {
        if (!s.ct) {
          auto ct = arrow::AllocateBuffer(per * (file->key_.seg + kTag));
          if (ct.ok()) {
            s.ct = std::move(*ct);
          } else {
            fault.Note(first + c * per, nullptr, ct.status());
          }
        }
        if (s.ct) {
          const int64_t c_first = first + c * per;
          file->OpenChunk(c_first, std::min(per, first + count - c_first), lo, hi, out, &s, &fault);
        }
        if (fault.any()) split->stop.store(true);
      }
      std::lock_guard<std::mutex> lock(split->mutex);
      if (fault.any()) split->fault.Note(fault.index, fault.kind, std::move(fault.status));
      if (++split->done == chunks) split->finished.notify_all();
    }
  }

  // Plaintext [position, position + nbytes) (clipped, nbytes > 0) into
  // `out`, which holds nbytes. The non-final segments go chunk by chunk
  // (kChunk of ciphertext: read from the base, decrypted while in cache,
  // so memory sees what a plaintext read's copy does). A large read asks
  // for up to threads_ - 1 helpers on Arrow's CPU pool and takes chunks
  // itself meanwhile: when Arrow's threads are busy decoding, the helpers
  // start late and find nothing left, so the CPUs are not oversubscribed.
  // Bytes of the final segment come from the copy authenticated at open.
  // On any failure `out` is wiped.
  Status DecryptInto(int64_t position, int64_t nbytes, uint8_t* out) {
    const int64_t seg = key_.seg;
    const int64_t stride = seg + kTag;
    const int64_t final_start = (nseg_ - 1) * seg;
    const int64_t end = position + nbytes;
    const int64_t hi = std::min(end, final_start);  // end of the non-final part
    if (position < hi) {
      const int64_t first = position / seg;
      const int64_t count = (hi - 1) / seg - first + 1;
      const int64_t per = std::min(count, std::max<int64_t>(1, kChunk / stride));  // segments per chunk
      const int64_t chunks = (count + per - 1) / per;
      int64_t helpers = 0;
      if (threads_ > 1 && hi - position >= kParallelMin) helpers = std::min<int64_t>(threads_, chunks) - 1;
      auto split = std::make_shared<Split>();
      auto* pool = arrow::internal::GetCpuThreadPool();
      for (int64_t h = 0; h < helpers; ++h) {
        const SealedInputFile* file = this;
        Status st = pool->Spawn([file, split, first, count, per, chunks, position, hi, out]() {
          TakeChunks(file, split.get(), first, count, per, chunks, position, hi, out);
        });
        if (!st.ok()) break;  // fewer helpers: the reader takes the rest
      }
      TakeChunks(this, split.get(), first, count, per, chunks, position, hi, out);
      Fault fault;
      {
        std::unique_lock<std::mutex> lock(split->mutex);
        split->finished.wait(lock, [&] { return split->done == chunks; });
        fault = std::move(split->fault);
      }
      if (fault.any()) {
        sealio_wipe(out, static_cast<size_t>(nbytes));
        if (fault.kind == nullptr) return fault.status;
        if (std::strcmp(fault.kind, "segment") == 0) {
          failed_index_.store(fault.index);
          failed_.store(true);
        }
        return Failure(hooks_, path_, fault.kind, fault.index);
      }
      decrypted_->fetch_add(count);
    }
    if (end > final_start) {
      const int64_t from = std::max(position, final_start);
      std::memcpy(out + (from - position), final_->data() + (from - final_start),
                  static_cast<size_t>(end - from));
    }
    return Status::OK();
  }

  std::shared_ptr<arrow::io::RandomAccessFile> base_;
  FileKey key_;
  const int64_t size_;
  const int64_t nseg_;
  const std::string path_;
  std::shared_ptr<PyRef> hooks_;
  const int threads_;
  std::shared_ptr<Buffer> final_;
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> failed_index_{0};
  mutable std::mutex pos_mutex_;
  int64_t pos_ = 0;
};

// ----------------------------------------------------------------- writes

// Where the ciphertext goes: a base output stream (published by Close,
// dropped by Abort + delete) or, on local disk, a temporary file that
// Python's atomic sink publishes (fsync, rename) or deletes.
class SealedOutputStream : public arrow::io::OutputStream {
  LiveCount live_;  // first: counted until the last member (Python references included) is gone

 public:
  SealedOutputStream(std::shared_ptr<arrow::io::OutputStream> sink, FileKey key, std::string path,
                     std::shared_ptr<PyRef> hooks, std::shared_ptr<PyRef> local_sink,
                     std::shared_ptr<arrow::fs::FileSystem> base, int threads, int writeback_fd)
      : writeback_fd_(writeback_fd),
        sink_(std::move(sink)),
        key_(std::move(key)),
        path_(std::move(path)),
        hooks_(std::move(hooks)),
        local_sink_(std::move(local_sink)),
        base_(std::move(base)),
        threads_(threads < 1 ? 1u : static_cast<unsigned>(threads)) {
    cap_ = std::max<int64_t>(1, kWriteBatch / key_.seg) * key_.seg;
  }

  // An unclosed stream publishes nothing (as Python's writers).
  ~SealedOutputStream() override {
    if (!closed_) (void)Discard();
  }

  Status Write(const void* data, int64_t nbytes) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Status::Invalid("sealio: write to a closed sealed file");
    const auto* p = static_cast<const uint8_t*>(data);
    while (nbytes > 0) {
      if (static_cast<int64_t>(buf_.size()) == cap_) ARROW_RETURN_NOT_OK(Seal(false));  // more follows
      const int64_t take = std::min<int64_t>(nbytes, cap_ - static_cast<int64_t>(buf_.size()));
      buf_.insert(buf_.end(), p, p + take);
      p += take;
      nbytes -= take;
      written_ += take;
    }
    return Status::OK();
  }

  Status Flush() override { return Status::OK(); }  // a partial segment cannot be flushed

  Result<int64_t> Tell() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return written_;
  }
  bool closed() const override { return closed_; }

  Status Close() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Status::OK();
    Status st = Seal(true);
    if (st.ok()) st = Publish();
    if (!st.ok()) (void)DiscardLocked();
    closed_ = true;
    local_sink_.reset();  // Python references go now, in the closing thread, not in a destructor
    hooks_.reset();
    return st;
  }

  Status Abort() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return Status::OK();
    return DiscardLocked();
  }

  Status WriteHeader(const uint8_t* header, int64_t n) {
    ARROW_RETURN_NOT_OK(sink_->Write(header, n));
    sunk_ += n;
    return Status::OK();
  }

 private:
  Status Discard() {
    std::lock_guard<std::mutex> lock(mutex_);
    return DiscardLocked();
  }

  Status DiscardLocked() {
    closed_ = true;
    sealio_wipe(buf_.data(), buf_.size());
    Status st = sink_->Abort();
    if (local_sink_) {
      return CallPython([&]() -> Status {
        PyObject* r = PyObject_CallMethod(local_sink_->get(), "abort", nullptr);
        if (r == nullptr) return arrow::py::ConvertPyError(arrow::StatusCode::IOError);
        Py_DECREF(r);
        return Status::OK();
      });
    }
    (void)base_->DeleteFile(path_);  // a partial object lacks its final segment; remove it anyway
    return st;
  }

  Status Publish() {
    ARROW_RETURN_NOT_OK(sink_->Close());
    if (!local_sink_) return Status::OK();
    return CallPython([&]() -> Status {
      PyObject* r = PyObject_CallMethod(local_sink_->get(), "publish", nullptr);
      if (r == nullptr) return arrow::py::ConvertPyError(arrow::StatusCode::IOError);
      Py_DECREF(r);
      return Status::OK();
    });
  }

  // Seal the buffered plaintext (all of it: a whole batch, non-final, or
  // the rest, final) and write it.
  Status Seal(bool final) {
    const auto len = static_cast<int64_t>(buf_.size());
    const int64_t count = std::max<int64_t>(1, (len + key_.seg - 1) / key_.seg);
    if (index_ + count > (int64_t{1} << 32)) {
      return Status::Invalid("sealio: sealed file would exceed 2**32 segments; use a larger segment_size");
    }
    const size_t need = sealio_segments_sealed_len(static_cast<size_t>(len), static_cast<size_t>(key_.seg));
    if (out_.size() < need) out_.resize(need);
    sealio_segments p{};
    p.segment_size = static_cast<size_t>(key_.seg);
    p.prefix = key_.prefix;
    p.first_index = static_cast<uint32_t>(index_);
    p.final = final ? 1 : 0;
    p.threads = threads_;
    int rc = sealio_gcm_seal_segments(key_.gcm.get(), &p, buf_.data(), static_cast<size_t>(len), out_.data(),
                                      out_.size());
    sealio_wipe(buf_.data(), buf_.size());
    buf_.clear();
    if (rc != SEALIO_OK) return Status::IOError("sealio: sealing failed (", rc, ")");
    index_ += count;
    ARROW_RETURN_NOT_OK(sink_->Write(out_.data(), static_cast<int64_t>(need)));
    StartWriteback(static_cast<int64_t>(need));
    return Status::OK();
  }

  // As Python's AtomicFileSink: ask the kernel to start writing every
  // kWriteback bytes (waiting for nothing), so the fsync at publish finds
  // little left. Only when the file is to be fsynced (writeback_fd_ >= 0);
  // a failure changes nothing but timing.
  void StartWriteback(int64_t n) {
    sunk_ += n;
    if (writeback_fd_ < 0 || sunk_ - started_ < kWriteback) return;
#ifdef __linux__
    (void)sync_file_range(writeback_fd_, started_, sunk_ - started_, SYNC_FILE_RANGE_WRITE);
#endif
    g_writebacks.fetch_add(1);
    started_ = sunk_;
  }

  const int writeback_fd_;  // the local file's descriptor when it is to be fsynced, else -1
  int64_t sunk_ = 0;        // bytes written to the file (header included): the next file offset
  int64_t started_ = 0;     // writeback started for file offsets [0, started_)

  std::shared_ptr<arrow::io::OutputStream> sink_;
  FileKey key_;
  const std::string path_;
  std::shared_ptr<PyRef> hooks_;
  std::shared_ptr<PyRef> local_sink_;
  std::shared_ptr<arrow::fs::FileSystem> base_;
  const unsigned threads_;
  int64_t cap_ = 0;
  std::vector<uint8_t> buf_;
  std::vector<uint8_t> out_;
  int64_t index_ = 0;
  int64_t written_ = 0;
  std::atomic<bool> closed_{false};
  mutable std::mutex mutex_;
};

// ------------------------------------------------------------- filesystem

class SealedFileSystem : public arrow::py::fs::PyFileSystem {
 public:
  SealedFileSystem(PyObject* handler, PyObject* hooks, std::shared_ptr<arrow::fs::FileSystem> inner,
                   std::shared_ptr<arrow::fs::FileSystem> base, int threads)
      : PyFileSystem(handler, arrow::py::fs::PyFileSystemVtable{}),
        hooks_(std::make_shared<PyRef>(hooks)),
        inner_(std::move(inner)),
        base_(std::move(base)),
        threads_(threads) {}

  std::string type_name() const override { return inner_->type_name(); }

  bool Equals(const arrow::fs::FileSystem& other) const override {
    if (&other == this) return true;
    return inner_->Equals(other);  // compares the Python handlers (same base and policy)
  }

  using FileSystem::CreateDir;
  using FileSystem::DeleteDirContents;
  using FileSystem::GetFileInfo;
  using FileSystem::OpenAppendStream;
  using FileSystem::OpenOutputStream;

  Result<arrow::fs::FileInfo> GetFileInfo(const std::string& path) override { return inner_->GetFileInfo(path); }
  Result<std::vector<arrow::fs::FileInfo>> GetFileInfo(const std::vector<std::string>& paths) override {
    return inner_->GetFileInfo(paths);
  }
  Result<std::vector<arrow::fs::FileInfo>> GetFileInfo(const arrow::fs::FileSelector& select) override {
    return inner_->GetFileInfo(select);
  }
  Status CreateDir(const std::string& path, bool recursive) override { return inner_->CreateDir(path, recursive); }
  Status DeleteDir(const std::string& path) override { return inner_->DeleteDir(path); }
  Status DeleteDirContents(const std::string& path, bool missing_dir_ok) override {
    return inner_->DeleteDirContents(path, missing_dir_ok);
  }
  Status DeleteRootDirContents() override { return inner_->DeleteRootDirContents(); }
  Status DeleteFile(const std::string& path) override { return inner_->DeleteFile(path); }
  Status Move(const std::string& src, const std::string& dest) override { return inner_->Move(src, dest); }
  Status CopyFile(const std::string& src, const std::string& dest) override { return inner_->CopyFile(src, dest); }
  Result<std::string> NormalizePath(std::string path) override { return inner_->NormalizePath(std::move(path)); }
  Result<std::shared_ptr<arrow::io::OutputStream>> OpenAppendStream(
      const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override {
    return inner_->OpenAppendStream(path, metadata);
  }

  Result<std::shared_ptr<arrow::io::InputStream>> OpenInputStream(const std::string& path) override {
    ARROW_ASSIGN_OR_RAISE(auto f, OpenInputFile(path));
    return f;
  }

  // One Python call: hooks.open_input(path, header, file size) authenticates
  // the header with the KMS and returns (K_seg, prefix, segment size,
  // plaintext size, segment count), or None for a plain file read as it is
  // (passthrough); it raises the policy's error otherwise.
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenInputFile(const std::string& path) override {
    ARROW_ASSIGN_OR_RAISE(auto raw, base_->OpenInputFile(path));
    ARROW_ASSIGN_OR_RAISE(int64_t fsize, raw->GetSize());
    ARROW_ASSIGN_OR_RAISE(auto head, raw->ReadAt(0, std::min(fsize, kHeaderSize)));
    FileKey key;
    int64_t size = 0;
    int64_t nseg = 0;
    bool plain = false;
    Status st = CallPython([&]() -> Status {
      PyObject* r = PyObject_CallMethod(hooks_->get(), "open_input", "s#y#L", path.data(),
                                        static_cast<Py_ssize_t>(path.size()),
                                        reinterpret_cast<const char*>(head->data()),
                                        static_cast<Py_ssize_t>(head->size()), static_cast<long long>(fsize));
      if (r == nullptr) return arrow::py::ConvertPyError(arrow::StatusCode::IOError);
      Status out = Status::OK();
      if (r == Py_None) {
        plain = true;
      } else if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 5) {
        out = Status::TypeError("sealio: hooks.open_input returned an unexpected value");
      } else {
        out = ParseKey(PyTuple_GET_ITEM(r, 0), PyTuple_GET_ITEM(r, 1), PyTuple_GET_ITEM(r, 2), &key);
        if (out.ok()) {
          size = PyLong_AsLongLong(PyTuple_GET_ITEM(r, 3));
          nseg = PyLong_AsLongLong(PyTuple_GET_ITEM(r, 4));
          if (PyErr_Occurred()) out = arrow::py::ConvertPyError();
        }
      }
      Py_DECREF(r);
      return out;
    });
    if (!st.ok()) {
      (void)raw->Close();
      return st;
    }
    if (plain) {
      ARROW_RETURN_NOT_OK(raw->Seek(0));  // after ReadAt, local files need a seek before Read
      return raw;
    }
    auto file = std::make_shared<SealedInputFile>(std::move(raw), std::move(key), size, nseg, path, hooks_,
                                                  threads_, decrypted_);
    ARROW_RETURN_NOT_OK(file->Open());
    return file;
  }

  // One Python call: hooks.open_output(path) checks the policy, seals a new
  // header and returns (header, K_seg, prefix, segment size, local sink or
  // None). A local sink is sealio's atomic temporary file (its `fd` is
  // written here; Close publishes it, Abort deletes it); otherwise the
  // ciphertext streams to the base filesystem.
  Result<std::shared_ptr<arrow::io::OutputStream>> OpenOutputStream(
      const std::string& path, const std::shared_ptr<const arrow::KeyValueMetadata>& metadata) override {
    FileKey key;
    std::string header;
    std::shared_ptr<PyRef> local;
    int fd = -1;
    bool durable = false;  // the local sink fsyncs at publish
    Status st = CallPython([&]() -> Status {
      PyObject* r = PyObject_CallMethod(hooks_->get(), "open_output", "s#", path.data(),
                                        static_cast<Py_ssize_t>(path.size()));
      if (r == nullptr) return arrow::py::ConvertPyError(arrow::StatusCode::IOError);
      Status out = Status::OK();
      if (!PyTuple_Check(r) || PyTuple_GET_SIZE(r) != 5) {
        out = Status::TypeError("sealio: hooks.open_output returned an unexpected value");
      } else {
        char* hp;
        Py_ssize_t hn;
        if (PyBytes_AsStringAndSize(PyTuple_GET_ITEM(r, 0), &hp, &hn) < 0) {
          out = arrow::py::ConvertPyError();
        } else {
          header.assign(hp, static_cast<size_t>(hn));
          out = ParseKey(PyTuple_GET_ITEM(r, 1), PyTuple_GET_ITEM(r, 2), PyTuple_GET_ITEM(r, 3), &key);
        }
        PyObject* sink = PyTuple_GET_ITEM(r, 4);
        if (out.ok() && sink != Py_None) {
          local = std::make_shared<PyRef>(sink);
          PyObject* pyfd = PyObject_GetAttrString(sink, "fd");
          if (pyfd == nullptr) {
            out = arrow::py::ConvertPyError();
          } else {
            fd = static_cast<int>(PyLong_AsLong(pyfd));
            Py_DECREF(pyfd);
            if (PyErr_Occurred()) out = arrow::py::ConvertPyError();
          }
          PyObject* pysync = out.ok() ? PyObject_GetAttrString(sink, "fsync") : nullptr;
          if (out.ok() && pysync == nullptr) {
            out = arrow::py::ConvertPyError();
          } else if (pysync != nullptr) {
            const int truth = PyObject_IsTrue(pysync);
            Py_DECREF(pysync);
            if (truth < 0) out = arrow::py::ConvertPyError();
            durable = truth == 1;
          }
        }
      }
      Py_DECREF(r);
      return out;
    });
    ARROW_RETURN_NOT_OK(st);
    std::shared_ptr<arrow::io::OutputStream> sink;
    int writeback_fd = -1;
    if (local) {
      int own = dup(fd);  // the sink keeps its descriptor (publish fsyncs and closes it)
      if (own < 0) return Status::IOError("sealio: dup failed");
      auto opened = arrow::io::FileOutputStream::Open(own);
      if (!opened.ok()) {
        ::close(own);
        return opened.status();
      }
      sink = *opened;
      if (durable) writeback_fd = own;
    } else {
      ARROW_ASSIGN_OR_RAISE(sink, base_->OpenOutputStream(path, metadata));
    }
    // Sealing runs on the writing thread alone: one thread seals (several
    // GB/s) faster than files are written, and Arrow writes several files
    // at once; threads started per 4 MiB batch would only add CPU.
    auto out = std::make_shared<SealedOutputStream>(std::move(sink), std::move(key), path, hooks_,
                                                    std::move(local), base_, 1, writeback_fd);
    Status hs = out->WriteHeader(reinterpret_cast<const uint8_t*>(header.data()),
                                 static_cast<int64_t>(header.size()));
    if (!hs.ok()) {
      (void)out->Abort();
      return hs;
    }
    return out;
  }

  int64_t segments_decrypted() const { return decrypted_->load(); }

 private:
  std::shared_ptr<std::atomic<int64_t>> decrypted_ = std::make_shared<std::atomic<int64_t>>(0);
  std::shared_ptr<PyRef> hooks_;
  std::shared_ptr<arrow::fs::FileSystem> inner_;
  std::shared_ptr<arrow::fs::FileSystem> base_;
  const int threads_;
};

}  // namespace

PyRef::PyRef(PyObject* obj) : obj_(obj) { Py_XINCREF(obj_); }

PyRef::~PyRef() {
  if (obj_ == nullptr || !Py_IsInitialized() || Finalizing()) return;  // at exit: left to the OS
  arrow::py::PyAcquireGIL lock;
  Py_DECREF(obj_);
}

std::shared_ptr<arrow::fs::FileSystem> MakeSealedFileSystem(PyObject* handler, PyObject* hooks,
                                                            std::shared_ptr<arrow::fs::FileSystem> inner,
                                                            std::shared_ptr<arrow::fs::FileSystem> base,
                                                            int threads) {
  return std::make_shared<SealedFileSystem>(handler, hooks, std::move(inner), std::move(base), threads);
}

int64_t LiveFiles() { return g_live.load(); }

int64_t WritebacksStarted() { return g_writebacks.load(); }

int64_t SegmentsDecrypted(const std::shared_ptr<arrow::fs::FileSystem>& fs) {
  auto* sealed = dynamic_cast<SealedFileSystem*>(fs.get());
  return sealed == nullptr ? -1 : sealed->segments_decrypted();
}

int KernelAvailable() { return sealio_kernel_best() != 0 ? 1 : 0; }

}  // namespace sealio_arrow
