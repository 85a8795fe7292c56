/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * A KMS that resolves wrapped KEKs by table lookup, as docs/FORMAT.md
 * section 11 says to check the vectors (their KEKs come from a test KMS
 * this JVM does not run). It cannot wrap; it exists for the vector tests
 * and for tools that hold KEKs another way.
 */
public final class FixedKeks implements KekSource {
  private final String id;
  private final Map<String, byte[]> table = new HashMap<>();

  public FixedKeks(String id) {
    this.id = "fixed:" + id;
  }

  public FixedKeks put(String masterKeyId, String wrapped, byte[] kek) {
    table.put(masterKeyId + '\0' + wrapped, kek.clone());
    return this;
  }

  @Override
  public String id() {
    return id;
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyId) throws IOException {
    byte[] kek = table.get(masterKeyId + '\0' + wrappedKey);
    if (kek == null) {
      throw new IOException("wrapped KEK unknown to this fixed table");
    }
    return kek.clone();
  }

  @Override
  public String wrapKey(byte[] key, String masterKeyId) throws IOException {
    throw new IOException("a fixed KEK table cannot wrap keys");
  }

  @Override
  public String defaultMasterKey() {
    return null;
  }
}
