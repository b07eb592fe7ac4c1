"""The fault table of ``tests/test_faults.py``: its machinery (:mod:`tests.faults.core`) and its
cases, one module per area."""
