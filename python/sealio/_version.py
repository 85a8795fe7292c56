"""The package's version, written once: ``pyproject.toml`` reads it
(``[tool.setuptools.dynamic]``), and ``sealio.__version__`` and ``sealio
--version`` import it instead of reading the installed metadata
(``importlib.metadata`` cost every ``--version`` ~15 ms)."""

__version__ = "0.1.0"
