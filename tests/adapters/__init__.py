"""Adapter tests: one shared contract (``contract.py``) and a module per store."""
