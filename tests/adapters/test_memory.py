"""MemoryAdapter passes the adapter contract."""

from __future__ import annotations

import pytest

from lucia_wsgi.adapters import MemoryAdapter

from .contract import AdapterContract


class TestMemoryAdapter(AdapterContract):
    @pytest.fixture
    def adapter(self) -> MemoryAdapter:
        return MemoryAdapter()

    @pytest.fixture
    def second_adapter(self, adapter: MemoryAdapter) -> MemoryAdapter:
        return adapter
