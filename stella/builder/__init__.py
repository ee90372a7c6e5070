"""The book driver: runs the notebooks with papermill and builds the Jupyter Book (1.x).

* :mod:`stella.builder.driver` - ``build_book``: stage the sources, execute the notebooks in order
  against one run store, build html (and the print view), check the result.
* :mod:`stella.builder.pages` - what a reader sees of an executed notebook (no progress bars, plumbing
  folded, papermill's injected cell reduced to what differs, no path of the building machine).
* :mod:`stella.builder.checks` - checks over the built html: no remote asset, no leaked path.

Imports core (the store) and runs notebooks as separate processes; core never imports it.
"""
from stella.builder.driver import BookBuildError, build_book

__all__ = ["BookBuildError", "build_book"]
