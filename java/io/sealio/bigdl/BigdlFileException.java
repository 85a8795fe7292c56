/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.bigdl;

import java.io.IOException;

/**
 * A BigDL part that cannot be trusted or read. The message starts with the
 * file's path and never carries key bytes or plaintext, so a failed Spark
 * task names the file to look at.
 */
public final class BigdlFileException extends IOException {
  private static final long serialVersionUID = 1L;

  public BigdlFileException(String file, String message) {
    super(file + ": " + message);
  }
}
