"""The system tier: the whole system in one process (see inprocess.py)."""
