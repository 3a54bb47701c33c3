"""The reliability suite (see test_fault_matrix.py)."""
