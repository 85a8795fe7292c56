/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;

/**
 * What every sealio KMS client on the JVM shares: it is named by its
 * configuration string (never a secret) and may carry a default master
 * key, plus the small byte and HTTP bits the clients would otherwise each
 * write out.
 */
abstract class ConfiguredKekSource implements KekSource {
  private final String config;
  private final String defaultKey;

  ConfiguredKekSource(String config, String defaultKey) {
    this.config = config;
    this.defaultKey = defaultKey;
  }

  @Override
  public final String id() {
    return config;
  }

  @Override
  public final String defaultMasterKey() {
    return defaultKey;
  }

  /** {@code prefix || UTF-8(tail)}: the associated data of a wrap. */
  static byte[] joined(byte[] prefix, String tail) {
    byte[] t = tail.getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[prefix.length + t.length];
    System.arraycopy(prefix, 0, out, 0, prefix.length);
    System.arraycopy(t, 0, out, prefix.length, t.length);
    return out;
  }

  /** Send {@code req}; an interrupt keeps the thread's flag and fails as an IOException naming {@code whom}. */
  static HttpResponse<String> send(HttpClient http, HttpRequest req, String whom) throws IOException {
    try {
      return http.send(req, HttpResponse.BodyHandlers.ofString());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while calling " + whom);
    }
  }
}
