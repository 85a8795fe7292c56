/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One KEK cache per JVM (docs/FORMAT.md sections 5.1-5.2), so a job over
 * many files costs O(1) KMS calls per executor and master key: readers keep
 * unwrapped KEKs by (KMS, master key id, wrapped KEK) for {@link #TTL_NANOS};
 * writers reuse one KEK per (KMS, master key) for as long, and never for
 * more than 2^32 DEKs. The counters let tests count KMS calls.
 */
public final class KekCache {
  static final long TTL_NANOS = 600_000_000_000L; // 600 s, as sealio's Python side
  private static final long MAX_WRAPS = 1L << 32;
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final ConcurrentHashMap<String, Entry> READ = new ConcurrentHashMap<>();
  private static final ConcurrentHashMap<String, WriterKek> WRITE = new ConcurrentHashMap<>();
  private static final ConcurrentHashMap<String, Object> LOCKS = new ConcurrentHashMap<>();
  private static final AtomicLong UNWRAPS = new AtomicLong();
  private static final AtomicLong WRAPS = new AtomicLong();

  private KekCache() {}

  private static final class Entry {
    final byte[] kek;
    final long expires;

    Entry(byte[] kek, long expires) {
      this.kek = kek;
      this.expires = expires;
    }
  }

  /** A writer's KEK: the key, its id and the KMS's wrapping of it. */
  static final class WriterKek {
    final byte[] kek;
    final byte[] kekId;
    final String wrapped;
    final long expires;
    final AtomicLong uses = new AtomicLong();

    WriterKek(byte[] kek, byte[] kekId, String wrapped, long expires) {
      this.kek = kek;
      this.kekId = kekId;
      this.wrapped = wrapped;
      this.expires = expires;
    }
  }

  static byte[] unwrap(KekSource kms, String masterKeyId, String wrapped) throws IOException {
    String key = kms.id() + '\0' + masterKeyId + '\0' + wrapped;
    long now = System.nanoTime();
    Entry hit = READ.get(key);
    if (hit != null && now - hit.expires < 0) {
      return hit.kek;
    }
    // one KMS call per key however many tasks miss at once
    synchronized (LOCKS.computeIfAbsent(key, k -> new Object())) {
      hit = READ.get(key);
      now = System.nanoTime();
      if (hit != null && now - hit.expires < 0) {
        return hit.kek;
      }
      UNWRAPS.incrementAndGet();
      byte[] kek = kms.unwrapKey(wrapped, masterKeyId);
      if (kek == null || kek.length != 32) {
        throw new IOException("the KMS returned a KEK that is not 32 bytes");
      }
      READ.put(key, new Entry(kek, now + TTL_NANOS));
      return kek;
    }
  }

  static WriterKek writer(KekSource kms, String masterKeyId) throws IOException {
    String key = kms.id() + '\0' + masterKeyId;
    long now = System.nanoTime();
    WriterKek cur = WRITE.get(key);
    if (cur != null && now - cur.expires < 0 && cur.uses.incrementAndGet() < MAX_WRAPS) {
      return cur;
    }
    synchronized (WRITE) {
      cur = WRITE.get(key);
      if (cur != null && now - cur.expires < 0 && cur.uses.incrementAndGet() < MAX_WRAPS) {
        return cur;
      }
      byte[] kek = new byte[32];
      byte[] kekId = new byte[16];
      RANDOM.nextBytes(kek);
      RANDOM.nextBytes(kekId);
      WRAPS.incrementAndGet();
      String wrapped = kms.wrapKey(kek, masterKeyId);
      WriterKek fresh = new WriterKek(kek, kekId, wrapped, now + TTL_NANOS);
      WRITE.put(key, fresh);
      READ.put(key + '\0' + wrapped, new Entry(kek, now + TTL_NANOS)); // reading back costs no unwrap
      return fresh;
    }
  }

  /** KMS unwrap calls made by this JVM (cache misses). */
  public static long unwrapCalls() {
    return UNWRAPS.get();
  }

  /** KMS wrap calls made by this JVM (new writer KEKs). */
  public static long wrapCalls() {
    return WRAPS.get();
  }

  /** Forget every cached KEK (tests; a key rotation that must take effect now). */
  public static void clear() {
    READ.clear();
    WRITE.clear();
    LOCKS.clear();
  }
}
