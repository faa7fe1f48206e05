"""The ``kubejit`` / ``kubectl jit`` command line."""
