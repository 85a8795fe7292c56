"""The sealed file format (``docs/FORMAT.md``): :mod:`sealio.format.header`
holds the header layout, strict parsing, key derivation and file-size
arithmetic (segment arithmetic itself is :mod:`sealio.hazmat.segments`).
Pure functions over bytes: no I/O, no KMS."""
