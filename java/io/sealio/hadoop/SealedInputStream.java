/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import io.sealio.hadoop.SealedFileException.Kind;
import java.io.EOFException;
import java.io.IOException;
import java.io.Closeable;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSInputStream;

/**
 * The plaintext of one sealed file, Seekable and PositionedReadable: a
 * read decrypts only the segments it touches, a batch of up to
 * {@code batchBytes} at a time (more ahead only when reading sequentially).
 * The header and the final segment are authenticated when the stream is
 * opened, so the plaintext size is trusted before the first byte is
 * returned (docs/FORMAT.md 3.1 step 9), and the final segment stays
 * decrypted for Parquet's footer read. State is sticky: after an
 * integrity failure every call throws the same exception.
 */
public final class SealedInputStream extends FSInputStream {
  private static final AtomicLong DECRYPTED = new AtomicLong();
  private final Source in;
  private final String file;
  private final long fileSize;
  private final long size;
  private final long segments;
  private final int seg;
  private final SegmentCipher cipher;
  private final int batchSegs;
  private final ByteBuffer ct;
  private final ByteBuffer pt;
  private long ptStart;
  private long ptEnd;
  private long pos;
  private long lastEnd = -1;
  private long decrypted;
  private IOException failed;
  private boolean closed;
  private final byte[] one = new byte[1];

  /** Where the ciphertext comes from: a Hadoop stream, or a local file's channel (no copies on the way). */
  interface Source extends Closeable {
    /** Fill {@code dst} from its position to its limit with the bytes at {@code pos}. */
    void readFully(long pos, ByteBuffer dst) throws IOException;
  }

  private static final class HadoopSource implements Source {
    private final FSDataInputStream in;
    private final boolean direct;
    private byte[] staging;

    HadoopSource(FSDataInputStream in) {
      this.in = in;
      this.direct = in.hasCapability("in:preadbytebuffer");
    }

    @Override
    public void readFully(long pos, ByteBuffer dst) throws IOException {
      int len = dst.remaining();
      if (dst.hasArray()) {
        in.readFully(pos, dst.array(), dst.arrayOffset() + dst.position(), len);
      } else if (direct) {
        in.readFully(pos, dst);
      } else {
        if (staging == null || staging.length < len) {
          staging = new byte[len];
        }
        in.readFully(pos, staging, 0, len);
        dst.put(staging, 0, len);
      }
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }

  private static final class ChannelSource implements Source {
    private final FileChannel ch;
    private final String file;

    ChannelSource(FileChannel ch, String file) {
      this.ch = ch;
      this.file = file;
    }

    @Override
    public void readFully(long pos, ByteBuffer dst) throws IOException {
      while (dst.hasRemaining()) {
        int got = ch.read(dst, pos);
        if (got < 0) {
          throw new EOFException(file + ": file shrank while it was read");
        }
        pos += got;
      }
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }

  private SealedInputStream(Source in, String file, long fileSize, SealedHeader h, SegmentCipher cipher,
      int batchBytes) {
    this.in = in;
    this.file = file;
    this.fileSize = fileSize;
    this.seg = h.segmentSize();
    this.size = SealedHeader.plaintextSize(fileSize, seg);
    this.segments = SealedHeader.segments(size, seg);
    this.cipher = cipher;
    this.batchSegs = (int) Math.max(1, Math.min(batchBytes / seg, segments)); // small files, small buffers
    this.ct = cipher.allocate(batchSegs * (seg + SealedHeader.TAG));
    this.pt = cipher.allocate(batchSegs * seg);
  }

  /**
   * Authenticate the header and the final segment of {@code in} (a
   * {@code fileSize}-byte sealed file named {@code file}) and return its
   * plaintext stream. {@code segmentSize} &gt; 0 refuses files of another
   * segment size (their listed sizes would be wrong). Closes {@code in}
   * when it fails.
   */
  public static SealedInputStream open(FSDataInputStream in, long fileSize, String file, KekSource kms, byte[] aad,
      boolean requireCommitment, boolean jni, int segmentSize, int batchBytes) throws IOException {
    return open(new HadoopSource(in), fileSize, file, kms, aad, requireCommitment, jni, segmentSize, batchBytes);
  }

  /** As above, reading a local file through its channel. */
  public static SealedInputStream open(FileChannel in, long fileSize, String file, KekSource kms, byte[] aad,
      boolean requireCommitment, boolean jni, int segmentSize, int batchBytes) throws IOException {
    return open(new ChannelSource(in, file), fileSize, file, kms, aad, requireCommitment, jni, segmentSize,
        batchBytes);
  }

  private static SealedInputStream open(Source in, long fileSize, String file, KekSource kms, byte[] aad,
      boolean requireCommitment, boolean jni, int segmentSize, int batchBytes) throws IOException {
    SegmentCipher cipher = null;
    try {
      byte[] head = new byte[SealedHeader.SIZE];
      int got = (int) Math.min(SealedHeader.SIZE, fileSize);
      in.readFully(0, ByteBuffer.wrap(head, 0, got));
      SealedHeader h = SealedHeader.parse(head, got, file, requireCommitment);
      if (segmentSize > 0 && h.segmentSize() != segmentSize) {
        throw new SealedFileException(Kind.FORMAT, file, "sealed with " + h.segmentSize()
            + "-byte segments, but this filesystem lists sizes for " + segmentSize
            + "-byte segments (set fs.sealed.segment.size=" + h.segmentSize() + ")");
      }
      byte[] kSeg = h.open(kms, aad, file);
      if (SealedHeader.plaintextSize(fileSize, h.segmentSize()) < 0) {
        SealedHeader.wipe(kSeg);
        throw new SealedFileException(Kind.PAYLOAD, file, "truncated or extended sealed file (" + fileSize
            + " bytes is no valid size for " + h.segmentSize() + "-byte segments)");
      }
      try {
        cipher = SegmentCiphers.create(kSeg, h.noncePrefix(), h.segmentSize(), jni);
      } finally {
        SealedHeader.wipe(kSeg);
      }
      SealedInputStream s = new SealedInputStream(in, file, fileSize, h, cipher, batchBytes);
      s.load(s.segments - 1, 1); // the final segment: the size is now authenticated
      return s;
    } catch (IOException | RuntimeException e) {
      if (cipher != null) {
        cipher.close();
      }
      in.close();
      throw e;
    }
  }

  /** "jni" or "jce": the cipher this stream decrypts with. */
  public String cipherName() {
    return cipher.name();
  }

  /** Plaintext size in bytes (authenticated). */
  public long length() {
    return size;
  }

  private void check() throws IOException {
    if (failed != null) {
      throw failed;
    }
    if (closed) {
      throw new IOException(file + ": stream is closed");
    }
  }

  private void load(long first, long count) throws IOException {
    long full = (long) seg + SealedHeader.TAG;
    long off = SealedHeader.SIZE + first * full;
    int len = (int) Math.min(count * full, fileSize - off);
    ptStart = ptEnd = -1;
    ByteBuffer view = ct.duplicate();
    view.clear().limit(len);
    in.readFully(off, view);
    int got;
    try {
      got = cipher.open(ct, len, pt, first, first + count == segments);
    } catch (SegmentCipher.BadSegment e) {
      failed = new SealedFileException(Kind.PAYLOAD, file, "segment " + (first + e.index)
          + " failed authentication (tampered, truncated, reordered or spliced data)");
      throw failed;
    }
    ptStart = first * seg;
    ptEnd = ptStart + got;
    decrypted += count;
    DECRYPTED.addAndGet(count);
  }

  /** Segments this stream has decrypted (the final one at open included). */
  public synchronized long segmentsDecrypted() {
    return decrypted;
  }

  /** Segments every sealed stream of this JVM has decrypted (benchmarks report it). */
  public static long totalSegmentsDecrypted() {
    return DECRYPTED.get();
  }

  @Override
  public synchronized int read(long position, byte[] b, int off, int len) throws IOException {
    check();
    if (off < 0 || len < 0 || len > b.length - off) {
      throw new IndexOutOfBoundsException();
    }
    if (position < 0) {
      throw new EOFException(file + ": negative position");
    }
    if (len == 0) {
      return 0;
    }
    if (position >= size) {
      return -1;
    }
    int n = (int) Math.min(len, size - position);
    int done = 0;
    while (done < n) {
      long p = position + done;
      if (p < ptStart || p >= ptEnd) {
        long first = p / seg;
        long needed = (p + (n - done) - 1) / seg - first + 1;
        long count = p == lastEnd ? Math.max(needed, batchSegs) : needed;
        load(first, Math.min(Math.min(count, batchSegs), segments - first));
      }
      int take = (int) Math.min(n - done, ptEnd - p);
      ByteBuffer view = pt.duplicate();
      view.position((int) (p - ptStart));
      view.get(b, off + done, take);
      done += take;
    }
    lastEnd = position + n;
    return n;
  }

  @Override
  public synchronized int read(byte[] b, int off, int len) throws IOException {
    int got = read(pos, b, off, len);
    if (got > 0) {
      pos += got;
    }
    return got;
  }

  @Override
  public synchronized int read() throws IOException {
    return read(one, 0, 1) == 1 ? one[0] & 0xff : -1;
  }

  @Override
  public synchronized void seek(long target) throws IOException {
    check();
    if (target < 0 || target > size) {
      throw new EOFException(file + ": seek to " + target + " outside 0.." + size);
    }
    pos = target;
  }

  @Override
  public synchronized long getPos() throws IOException {
    return pos;
  }

  @Override
  public synchronized long skip(long n) throws IOException {
    check();
    long to = Math.max(0, Math.min(size, pos + n));
    long skipped = to - pos;
    pos = to;
    return skipped;
  }

  @Override
  public boolean seekToNewSource(long targetPos) {
    return false;
  }

  @Override
  public synchronized int available() throws IOException {
    check();
    return (int) Math.min(Integer.MAX_VALUE, size - pos);
  }

  @Override
  public synchronized void close() throws IOException {
    if (!closed) {
      closed = true;
      cipher.close();
      in.close();
    }
  }
}
