"""warmbook helpers: the importable library behind the book's notebooks.

Every stage of the reproduction of Ibrahim, Hafner & Rocher (Nature 2026) lives here as plain, tested Python;
the notebooks in ``notebooks/`` only set parameters, call these functions and explain the results.
"""

__version__ = "0.1.0"
