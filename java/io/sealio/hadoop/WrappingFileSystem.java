/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The mechanics shared by sealio's filesystems over another one
 * ({@code sealed://}, {@code bigdl://}): {@code SCHEME://AUTHORITY/PATH} maps
 * to {@code INNER://AUTHORITY/PATH} of the inner filesystem (the local one
 * used raw, without .crc files), and listings map back, so each subclass
 * holds only what its format changes (sizes, open, create).
 */
public abstract class WrappingFileSystem extends FileSystem {
  private final String defaultScheme;
  private URI uri;
  private String scheme;
  private String innerScheme;
  private FileSystem inner;
  private Path workingDir;

  protected WrappingFileSystem(String defaultScheme) {
    this.defaultScheme = defaultScheme;
  }

  /** Set up the inner filesystem, named by {@code innerSchemeKey} (default {@code file}). */
  protected final void initializeInner(URI name, Configuration conf, String innerSchemeKey) throws IOException {
    super.initialize(name, conf);
    setConf(conf);
    scheme = name.getScheme();
    String auth = name.getAuthority();
    uri = URI.create(scheme + "://" + (auth == null ? "" : auth) + "/");
    innerScheme = conf.getTrimmed(innerSchemeKey, "file");
    if ("file".equals(innerScheme)) {
      inner = FileSystem.getLocal(conf).getRawFileSystem();
    } else {
      inner = FileSystem.get(URI.create(innerScheme + "://" + (auth == null ? "" : auth) + "/"), conf);
    }
    workingDir = toOuter(inner.getWorkingDirectory());
  }

  /** The filesystem this one wraps. */
  protected final FileSystem inner() {
    return inner;
  }

  /** The inner filesystem's scheme ({@code file} for the raw local one). */
  protected final String innerScheme() {
    return innerScheme;
  }

  /** The plaintext length listed for an inner file (directories are listed as they are). */
  protected abstract long outerLength(FileStatus innerStatus);

  /** Whether a listing shows this inner entry (all by default). */
  protected boolean listed(FileStatus innerStatus) {
    return true;
  }

  @Override
  public String getScheme() {
    return scheme == null ? defaultScheme : scheme;
  }

  @Override
  public URI getUri() {
    return uri;
  }

  protected final Path toInner(Path p) {
    URI u = makeQualified(p).toUri();
    return new Path(innerScheme, u.getAuthority(), u.getPath());
  }

  protected final Path toOuter(Path p) {
    return new Path(scheme, uri.getAuthority(), p.toUri().getPath());
  }

  private FileStatus toOuter(FileStatus st) {
    long len = st.isFile() ? outerLength(st) : st.getLen();
    // owner and group are left out: RawLocalFileSystem forks a process per file to read them
    return new FileStatus(len, st.isDirectory(), st.getReplication(), st.getBlockSize(), st.getModificationTime(),
        st.getAccessTime(), null, null, null, toOuter(st.getPath()));
  }

  @Override
  public FileStatus[] listStatus(Path f) throws IOException {
    FileStatus[] raw = inner.listStatus(toInner(f));
    java.util.List<FileStatus> out = new java.util.ArrayList<>(raw.length);
    for (FileStatus st : raw) {
      if (listed(st)) {
        out.add(toOuter(st));
      }
    }
    return out.toArray(new FileStatus[0]);
  }

  @Override
  public FileStatus getFileStatus(Path f) throws IOException {
    return toOuter(inner.getFileStatus(toInner(f)));
  }

  @Override
  public void setWorkingDirectory(Path dir) {
    workingDir = makeQualified(dir);
  }

  @Override
  public Path getWorkingDirectory() {
    return workingDir;
  }

  @Override
  public void close() throws IOException {
    super.close(); // the inner filesystem is shared through Hadoop's cache: not closed here
  }
}
