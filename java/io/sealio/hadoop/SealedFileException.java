/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;

/**
 * A sealed file that cannot be trusted or read. The message always starts
 * with the file's path and never carries key bytes or plaintext; {@link
 * #kind()} is the failure class of docs/FORMAT.md section 8 (the vector
 * tests compare it with each vector's expected kind).
 */
public final class SealedFileException extends IOException {
  private static final long serialVersionUID = 1L;

  /** FORMAT.md section 8, plus KEY for a KMS that refused to unwrap. */
  public enum Kind {
    NOT_SEALED("not_sealed"), UNSUPPORTED("unsupported"), FORMAT("format"), HEADER("header"),
    PAYLOAD("payload"), KEY("key");

    private final String label;

    Kind(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  private final Kind kind;

  public SealedFileException(Kind kind, String file, String message) {
    super(file + ": " + message);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }

  /** The kind as the vectors spell it ("header", "payload", ...). */
  public String kindLabel() {
    return kind.label();
  }
}
