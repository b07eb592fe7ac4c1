"""Applications on top of the library: the study's comparison (Table 1, Figures 1-4) and its GP problem."""

from pyroml.studies.comparison import ENTRIES, STUDY, compare

__all__ = ["compare", "ENTRIES", "STUDY"]
