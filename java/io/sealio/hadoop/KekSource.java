/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;

/**
 * A KMS as the format sees it (docs/FORMAT.md section 5): it wraps and
 * unwraps 32-byte KEKs under named master keys. {@link #id()} names the
 * KMS (its configuration string, never a secret) for the per-JVM KEK cache.
 */
public interface KekSource {
  String id();

  byte[] unwrapKey(String wrappedKey, String masterKeyId) throws IOException;

  String wrapKey(byte[] key, String masterKeyId) throws IOException;

  /** The master key writers use when none is configured, or null. */
  String defaultMasterKey();
}
