"""Threadwise core: settings, logging, database. Imports nothing from the layers above."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("threadwise")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
