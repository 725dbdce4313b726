"""The adapter contract: one test class every store must pass.

To test a store, subclass :class:`AdapterContract` in ``tests/adapters/test_<store>.py``
and override only fixtures::

    from .contract import AdapterContract

    class TestMyStore(AdapterContract):
        @pytest.fixture
        def adapter(self, tmp_path):          # a fresh, empty store per test,
            store = MyStore(...)              # users table with a ``username TEXT``
            store.create_tables(user_attributes={"username": "TEXT"})
            yield store
            store.close()

        @pytest.fixture
        def second_adapter(self, adapter):    # another client of the *same* store
            return MyStore(...)               # (for MemoryAdapter: ``adapter`` itself)

Optional knobs:

- ``thread_done`` fixture: called at the end of each worker thread of the
  concurrency tests (SQLite closes that thread's connection there).
- ``stores_users = False`` for a session store paired with a user store through a
  small wrapper exposing both: the tests that need the two in one store (a
  session for an unknown user refused by the store, ``delete_user`` taking the
  user's sessions, the one-query join) are then not collected.
- ``nul_error``: the exception a store that cannot hold NUL characters raises
  instead of truncating (``None``: NUL round-trips).
- ``unique_attributes = True`` with a ``make_unique(adapter, column)`` method
  adding ``column`` to the user table as a unique ``TEXT`` column, for a store
  that can hold one: the duplicate-attribute test is collected only then.
- ``purges_accounts = False`` for a store whose throttles, tokens and codes expire
  by themselves (Redis): ``delete_expired`` is then checked to change nothing.
- ``lucia_made = True`` with a ``lucia_made_adapter`` fixture: the store on a fresh
  database holding only the tables a Lucia app makes (and the user ``user-1``),
  for SQL stores that create their own tables there on first use.

Throttles, tokens and codes (``AccountAdapter``, SPEC §13, §14) live in the
session store when users and sessions are apart: a wrapper pairing two stores
sends the :data:`ACCOUNT_METHODS` there.

Expiries are relative to the real clock and in the future, so stores that expire
keys by wall-clock time (Redis) keep every row a test writes; "dead" is then
tested by passing a later ``now`` to the maintenance methods.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

from lucia_wsgi import LuciaError
from lucia_wsgi.adapters.base import CodeRow, TokenRow
from lucia_wsgi.session import SUPERSEDED_RETENTION, SessionRow

DAY = 86_400_000
#: Values that must be stored and matched verbatim, never interpreted.
AWKWARD_VALUES = [
    pytest.param("'; DROP TABLE \"user\"; --", id="sql-injection"),
    pytest.param('a"b\'c\\d`e', id="quotes-and-backslash"),
    pytest.param("100% _match_ [x]*?", id="like-and-glob-wildcards"),
    pytest.param("ünï ✓ 🔑 \u200b", id="unicode"),
    pytest.param("a:b::c:", id="colons"),
    pytest.param("  padded\t\n", id="whitespace"),
    pytest.param("{\"id\": 1}", id="json"),
    pytest.param("x" * 2000, id="long"),
]
_JOINT_ONLY = (
    "test_session_for_unknown_user_is_refused",
    "test_delete_user_takes_their_sessions",
    "test_session_and_user_in_one_query",
    "test_tokens_and_codes_of_an_unknown_user_are_refused",
    "test_deleting_a_user_ends_their_tokens_and_codes",
)
_LUCIA_MADE_ONLY = (
    "test_a_lucia_database_gets_our_tables_on_first_use",
    "test_concurrent_first_uses_of_a_lucia_database_all_work",
)
#: The ``AccountAdapter`` methods: the session store's, when users live elsewhere.
ACCOUNT_METHODS = frozenset({
    "get_throttle", "set_throttle", "set_token", "pop_token", "delete_tokens", "set_code", "get_code",
    "count_code_attempt", "delete_code", "delete_codes", "delete_expired",
})


def _sid(char: str) -> str:
    return char * 40


class AdapterContract:
    """Every protocol method and error of SPEC §10, for the ``adapter`` fixture's store."""

    stores_users: ClassVar[bool] = True
    nul_error: ClassVar[type[BaseException] | None] = None

    unique_attributes: ClassVar[bool] = False
    purges_accounts: ClassVar[bool] = True
    lucia_made: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.stores_users:
            for name in _JOINT_ONLY:
                setattr(cls, name, None)  # not collected: the paired stores cannot promise it
        if not cls.unique_attributes:
            cls.test_duplicate_unique_attribute = None  # type: ignore[assignment]
        if not cls.lucia_made:
            for name in _LUCIA_MADE_ONLY:
                setattr(cls, name, None)

    # fixtures subclasses may override -------------------------------------------

    @pytest.fixture
    def thread_done(self) -> Callable[[Any], None]:
        return lambda adapter: None

    @pytest.fixture
    def now(self) -> int:
        return time.time_ns() // 1_000_000

    # helpers ------------------------------------------------------------------

    @staticmethod
    def add_user(adapter: Any, name: str, user_id: str | None = None, **extra: Any) -> dict[str, Any]:
        values = {"provider_id": f"username:{name}", "hashed_password": f"hash-{name}", "username": name.title()}
        return dict(adapter.set_user(user_id or f"user-{name}", {**values, **extra}))

    @staticmethod
    def row(char: str, user_id: str, now: int, offset: int = 0) -> SessionRow:
        """A session live for a day from ``now + offset``, idle for a day more."""
        return SessionRow(_sid(char), user_id, now + DAY + offset, now + 2 * DAY + offset)

    @staticmethod
    def full_row(char: str, user_id: str, now: int) -> SessionRow:
        """A row with every field set (links, device facts)."""
        return SessionRow(_sid(char), user_id, now + DAY, now + 2 * DAY, "s" * 40, "p" * 64, now - 5, now - 1,
                          "Mozilla/5.0 (X11) ✓", "2001:db8::1")

    def make_unique(self, adapter: Any, column: str) -> None:
        """Add ``column`` to ``adapter``'s user table as a unique TEXT column."""
        raise NotImplementedError

    # users -------------------------------------------------------------------

    def test_set_user_returns_the_stored_row(self, adapter: Any) -> None:
        row = adapter.set_user("user-alice", {"provider_id": "username:alice", "hashed_password": "h",
                                              "username": "Alice"})
        expected = {"id": "user-alice", "provider_id": "username:alice", "hashed_password": "h", "username": "Alice"}
        assert row == expected
        assert adapter.get_user("user-alice") == expected
        assert adapter.get_user_by_provider_id("username:alice") == expected

    def test_set_user_without_id_lets_the_store_choose(self, adapter: Any) -> None:
        first = adapter.set_user(None, {"provider_id": "username:a"})
        second = adapter.set_user(None, {"provider_id": "username:b"})
        assert isinstance(first["id"], str) and first["id"] and first["id"] != second["id"]
        assert adapter.get_user(first["id"])["provider_id"] == "username:a"

    def test_user_without_password_has_null_hash(self, adapter: Any) -> None:
        adapter.set_user("user-gh", {"provider_id": "github:1"})
        stored = adapter.get_user("user-gh")
        assert stored["hashed_password"] is None
        assert stored.get("username") is None

    def test_unknown_users_are_none(self, adapter: Any) -> None:
        self.add_user(adapter, "alice")
        assert adapter.get_user("user-nobody") is None
        assert adapter.get_user_by_provider_id("username:nobody") is None
        assert adapter.get_user_by_provider_id("username:ALICE") is None

    def test_duplicate_provider_id_on_set(self, adapter: Any) -> None:
        first = self.add_user(adapter, "alice")
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
            adapter.set_user("user-other", {"provider_id": "username:alice"})
        assert adapter.get_user("user-other") is None
        assert adapter.get_user_by_provider_id("username:alice") == first

    def test_duplicate_user_id_on_set(self, adapter: Any) -> None:
        first = self.add_user(adapter, "alice")
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_USER_DATA"):
            adapter.set_user("user-alice", {"provider_id": "username:other"})
        assert adapter.get_user("user-alice") == first
        assert adapter.get_user_by_provider_id("username:other") is None

    def test_values_cannot_set_the_id(self, adapter: Any) -> None:
        with pytest.raises(ValueError):
            adapter.set_user(None, {"provider_id": "username:x", "id": "forced"})
        assert adapter.get_user("forced") is None

    def test_update_user_returns_the_whole_row(self, adapter: Any) -> None:
        self.add_user(adapter, "alice")
        updated = adapter.update_user("user-alice", {"username": "Alicia", "hashed_password": None})
        expected = {"id": "user-alice", "provider_id": "username:alice", "hashed_password": None,
                    "username": "Alicia"}
        assert updated == expected
        assert adapter.get_user("user-alice") == expected

    def test_update_user_with_no_values_returns_the_row(self, adapter: Any) -> None:
        stored = self.add_user(adapter, "alice")
        assert adapter.update_user("user-alice", {}) == stored

    def test_update_user_provider_id(self, adapter: Any) -> None:
        self.add_user(adapter, "alice")
        adapter.update_user("user-alice", {"provider_id": "email:alice@example.com"})
        assert adapter.get_user_by_provider_id("username:alice") is None
        assert adapter.get_user_by_provider_id("email:alice@example.com")["id"] == "user-alice"
        self.add_user(adapter, "alice", user_id="user-new")  # the old provider id is free again

    def test_duplicate_provider_id_on_update(self, adapter: Any) -> None:
        alice, bob = self.add_user(adapter, "alice"), self.add_user(adapter, "bob")
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_PROVIDER_ID"):
            adapter.update_user("user-bob", {"provider_id": "username:alice", "username": "Changed"})
        assert adapter.get_user("user-alice") == alice
        assert adapter.get_user("user-bob") == bob

    def test_duplicate_unique_attribute(self, adapter: Any) -> None:
        self.make_unique(adapter, "email")
        alice = self.add_user(adapter, "alice", email="a@example.com")
        bob = self.add_user(adapter, "bob", email="b@example.com")
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_USER_DATA"):
            self.add_user(adapter, "carol", email="a@example.com")
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_USER_DATA"):
            adapter.update_user("user-bob", {"email": "a@example.com"})
        assert adapter.get_user("user-carol") is None
        assert adapter.get_user("user-alice") == alice
        assert adapter.get_user("user-bob") == bob

    @pytest.mark.parametrize("values", [pytest.param({"username": "x"}, id="values"),
                                        pytest.param({}, id="no-values")])
    def test_update_unknown_user(self, adapter: Any, values: dict[str, Any]) -> None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
            adapter.update_user("user-nobody", values)
        assert adapter.get_user("user-nobody") is None

    def test_returned_rows_are_copies(self, adapter: Any) -> None:
        row = self.add_user(adapter, "alice")
        got = adapter.get_user("user-alice")
        got["username"] = "Mallory"
        row["username"] = "Mallory"
        assert adapter.get_user("user-alice")["username"] == "Alice"

    def test_delete_user(self, adapter: Any) -> None:
        self.add_user(adapter, "alice")
        bob = self.add_user(adapter, "bob")
        adapter.delete_user("user-alice")
        adapter.delete_user("user-alice")
        adapter.delete_user("user-nobody")
        assert adapter.get_user("user-alice") is None
        assert adapter.get_user_by_provider_id("username:alice") is None
        assert adapter.get_user("user-bob") == bob
        self.add_user(adapter, "alice")

    def test_delete_user_takes_their_sessions(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        adapter.set_session(self.row("a", "user-alice", now))
        adapter.set_session(self.row("b", "user-bob", now))
        adapter.delete_user("user-alice")
        assert adapter.get_session(_sid("a")) is None
        assert adapter.get_sessions_by_user_id("user-alice") == []
        assert adapter.get_session(_sid("b")) == self.row("b", "user-bob", now)

    # sessions ------------------------------------------------------------------

    def test_set_and_get_session(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.row("a", "user-alice", now)
        assert adapter.set_session(row) is None
        stored = adapter.get_session(_sid("a"))
        assert stored == row
        assert isinstance(stored, SessionRow)
        assert [type(value) for value in stored[:4]] == [str, str, int, int]
        assert stored[4:] == (None,) * 6
        assert adapter.get_session(_sid("z")) is None

    def test_every_session_field_round_trips(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.full_row("a", "user-alice", now)
        adapter.set_session(row)
        assert adapter.get_session(row.id) == row
        assert adapter.get_sessions_by_user_id("user-alice") == [row]
        assert [type(value) for value in adapter.get_session(row.id)] == [str, str, int, int, str, str, int, int,
                                                                          str, str]

    def test_session_for_unknown_user_is_refused(self, adapter: Any, now: int) -> None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
            adapter.set_session(self.row("a", "user-nobody", now))
        assert adapter.get_session(_sid("a")) is None

    def test_duplicate_session_id(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        first = self.row("a", "user-alice", now)
        adapter.set_session(first)
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_SESSION_ID"):
            adapter.set_session(self.row("a", "user-bob", now, offset=1))
        assert adapter.get_session(_sid("a")) == first
        assert adapter.get_sessions_by_user_id("user-bob") == []

    def test_get_sessions_by_user_id(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        mine = {self.row("a", "user-alice", now), self.row("b", "user-alice", now, offset=1)}
        for row in (*mine, self.row("c", "user-bob", now)):
            adapter.set_session(row)
        found = adapter.get_sessions_by_user_id("user-alice")
        assert len(found) == 2 and set(found) == mine
        assert adapter.get_sessions_by_user_id("user-nobody") == []

    def test_delete_session(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        for char in "abcd":
            adapter.set_session(self.row(char, "user-alice", now))
        adapter.delete_session(_sid("a"), _sid("c"), _sid("z"))
        adapter.delete_session()
        adapter.delete_session(_sid("b"))
        assert adapter.get_sessions_by_user_id("user-alice") == [self.row("d", "user-alice", now)]

    def test_delete_sessions_by_user_id(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        adapter.set_session(self.row("a", "user-alice", now))
        adapter.set_session(self.row("b", "user-alice", now))
        adapter.set_session(self.row("c", "user-bob", now))
        adapter.delete_sessions_by_user_id("user-alice")
        adapter.delete_sessions_by_user_id("user-nobody")
        assert adapter.get_sessions_by_user_id("user-alice") == []
        assert adapter.get_session(_sid("a")) is None
        assert adapter.get_sessions_by_user_id("user-bob") == [self.row("c", "user-bob", now)]
        assert adapter.get_user("user-alice") is not None

    def test_session_and_user_in_one_query(self, adapter: Any, now: int) -> None:
        alice = self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        adapter.set_session(self.row("a", "user-alice", now))
        assert adapter.get_session_and_user_by_session_id(_sid("a")) == (self.row("a", "user-alice", now), alice)
        assert adapter.get_session_and_user_by_session_id(_sid("z")) is None

    # renewal (SPEC §12: the atomic writes of RenewingSessionAdapter) ----------------

    def test_renew_session_links_and_inserts_in_one_step(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        old = self.row("a", "user-alice", now)
        adapter.set_session(old)
        new = self.row("n", "user-alice", now, offset=5)._replace(predecessor=old.id)
        assert adapter.renew_session(old, new.id, new, None) is True
        assert adapter.get_session(old.id) == old._replace(successor=new.id)  # expiries untouched
        assert adapter.get_session(new.id) == new
        assert len(adapter.get_sessions_by_user_id("user-alice")) == 2

    @pytest.mark.parametrize("change", [
        pytest.param({"expires": -1}, id="other-expires"),
        pytest.param({"idle_expires": -1}, id="other-idle-expires"),
        pytest.param({"successor": "s" * 40}, id="renewed-already"),
    ])
    def test_renew_session_with_stale_expectation_changes_nothing(self, adapter: Any, now: int,
                                                                  change: dict[str, Any]) -> None:
        self.add_user(adapter, "alice")
        stored = self.row("a", "user-alice", now)
        adapter.set_session(stored)
        stale = stored._replace(**{key: (getattr(stored, key) + value if isinstance(value, int) else value)
                                   for key, value in change.items()})
        new = self.row("n", "user-alice", now)
        assert adapter.renew_session(stale, new.id, new, None) is False
        assert adapter.get_session(stored.id) == stored
        assert adapter.get_session(new.id) is None

    def test_renew_session_of_a_deleted_row_changes_nothing(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        old = self.row("a", "user-alice", now)
        adapter.set_session(old)
        adapter.delete_session(old.id)
        new = self.row("n", "user-alice", now)
        assert adapter.renew_session(old, new.id, new, None) is False
        assert adapter.get_session(old.id) is None
        assert adapter.get_session(new.id) is None

    def test_renew_session_replaces_an_unseen_successor(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        first = self.row("b", "user-alice", now)
        old = self.row("a", "user-alice", now)._replace(successor=first.id)
        adapter.set_session(old)
        adapter.set_session(first)
        second = self.row("c", "user-alice", now, offset=9)
        assert adapter.renew_session(old, second.id, second, first.id) is True
        assert adapter.get_session(first.id) is None
        assert adapter.get_session(old.id) == old._replace(successor=second.id)
        assert set(adapter.get_sessions_by_user_id("user-alice")) == {old._replace(successor=second.id), second}

    def test_renew_session_onto_a_taken_id_fails_whole(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        old, taken = self.row("a", "user-alice", now), self.row("t", "user-alice", now)
        adapter.set_session(old)
        adapter.set_session(taken)
        with pytest.raises(LuciaError, match="AUTH_DUPLICATE_SESSION_ID"):
            adapter.renew_session(old, taken.id, taken._replace(expires=taken.expires + 1), None)
        assert adapter.get_session(old.id) == old
        assert adapter.get_session(taken.id) == taken

    def test_concurrent_renewals_let_exactly_one_win(
        self, adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        self.add_user(adapter, "alice")
        old = self.row("a", "user-alice", now)
        adapter.set_session(old)
        chars = "bcdefghi"
        barrier = threading.Barrier(len(chars))
        won: dict[str, bool] = {}

        def renew(char: str) -> None:
            barrier.wait()
            try:
                won[char] = adapter.renew_session(old, _sid(char), self.row(char, "user-alice", now), None)
            finally:
                thread_done(adapter)

        threads = [threading.Thread(target=renew, args=(char,)) for char in chars]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        winners = [char for char, result in won.items() if result]
        assert len(won) == len(chars) and len(winners) == 1
        assert set(adapter.get_sessions_by_user_id("user-alice")) == {
            old._replace(successor=_sid(winners[0])), self.row(winners[0], "user-alice", now)}

    def test_confirm_session_cuts_the_predecessor_and_forgets_it(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        old = self.row("a", "user-alice", now)._replace(successor=_sid("b"))
        new = self.row("b", "user-alice", now)._replace(predecessor=old.id)
        adapter.set_session(old)
        adapter.set_session(new)
        adapter.confirm_session(new.id, old.id, now + 5_000)
        assert adapter.get_session(new.id) == new._replace(predecessor=None)
        assert adapter.get_session(old.id) == old._replace(expires=now + 5_000, idle_expires=now + 5_000)
        adapter.confirm_session(new.id, old.id, now + 9_000)  # again, later: nothing moves back
        assert adapter.get_session(old.id) == old._replace(expires=now + 5_000, idle_expires=now + 5_000)

    def test_cut_sessions_only_shortens(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        a, b = self.row("a", "user-alice", now), self.row("b", "user-alice", now)
        adapter.set_session(a)
        adapter.set_session(b)
        adapter.cut_sessions([a.id, _sid("z")], now + DAY + 2)  # between a's expiries
        adapter.cut_sessions([], now)
        assert adapter.get_session(a.id) == a._replace(idle_expires=now + DAY + 2)
        adapter.cut_sessions([a.id], now + 60_000)  # in the future: Redis keeps the key
        assert adapter.get_session(a.id) == a._replace(expires=now + 60_000, idle_expires=now + 60_000)
        assert adapter.get_session(b.id) == b

    def test_extend_session_is_a_compare_and_set(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.full_row("a", "user-alice", now)
        adapter.set_session(row)
        extended = row._replace(expires=now + 5 * DAY, idle_expires=now + 9 * DAY, last_seen=now + 7)
        assert adapter.extend_session(row._replace(expires=row.expires - 1), extended) is False
        assert adapter.get_session(row.id) == row
        assert adapter.extend_session(row, extended) is True
        assert adapter.get_session(row.id) == extended
        assert adapter.extend_session(row, extended) is False  # the expectation is stale now
        adapter.delete_session(row.id)
        assert adapter.extend_session(extended, extended) is False
        assert adapter.get_session(row.id) is None

    def test_concurrent_extensions_let_exactly_one_win(
        self, adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        self.add_user(adapter, "alice")
        row = self.row("a", "user-alice", now)
        adapter.set_session(row)
        barrier = threading.Barrier(8)
        won: list[bool] = []

        def extend(offset: int) -> None:
            barrier.wait()
            try:
                won.append(adapter.extend_session(row, row._replace(expires=now + 3 * DAY + offset,
                                                                    idle_expires=now + 4 * DAY)))
            finally:
                thread_done(adapter)

        threads = [threading.Thread(target=extend, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(won) == [False] * 7 + [True]
        assert len(adapter.get_sessions_by_user_id("user-alice")) == 1

    def test_rekey_session_moves_a_row_once(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.full_row("a", "user-alice", now)
        adapter.set_session(row)
        digest = "d" * 64
        assert adapter.rekey_session(row.id, digest) is True
        assert adapter.get_session(row.id) is None
        assert adapter.get_session(digest) == row._replace(id=digest)
        assert adapter.rekey_session(row.id, digest) is False
        adapter.set_session(row)
        assert adapter.rekey_session(row.id, digest) is False  # the target is taken: moved already
        assert adapter.get_session(row.id) == row

    # values ----------------------------------------------------------------------

    @pytest.mark.parametrize("value", AWKWARD_VALUES)
    def test_awkward_values_round_trip(self, adapter: Any, now: int, value: str) -> None:
        user_id = "u" + value
        adapter.set_user(user_id, {"provider_id": "p:" + value, "hashed_password": value, "username": value})
        expected = {"id": user_id, "provider_id": "p:" + value, "hashed_password": value, "username": value}
        assert adapter.get_user(user_id) == expected
        assert adapter.get_user_by_provider_id("p:" + value) == expected
        assert adapter.get_user_by_provider_id("p:" + value[:-1]) is None
        row = SessionRow(_sid("a"), user_id, now + DAY, now + 2 * DAY)
        adapter.set_session(row)
        assert adapter.get_sessions_by_user_id(user_id) == [row]
        adapter.delete_sessions_by_user_id(user_id)
        assert adapter.get_session(row.id) is None
        adapter.delete_user(user_id)
        assert adapter.get_user(user_id) is None

    def test_nul_is_kept_or_refused_never_truncated(self, adapter: Any) -> None:
        values = {"provider_id": "p:a\x00b", "hashed_password": "h\x00", "username": "\x00"}
        if self.nul_error is None:
            adapter.set_user("user-nul", values)
            assert adapter.get_user("user-nul") == {"id": "user-nul", **values}
            assert adapter.get_user_by_provider_id("p:a\x00b")["id"] == "user-nul"
        else:
            with pytest.raises(self.nul_error):
                adapter.set_user("user-nul", values)
            assert adapter.get_user("user-nul") is None
        assert adapter.get_user_by_provider_id("p:a") is None

    # visibility and maintenance ----------------------------------------------------

    def test_writes_are_visible_to_another_client(self, adapter: Any, second_adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        adapter.set_session(self.row("a", "user-alice", now))
        assert second_adapter.get_user("user-alice")["username"] == "Alice"
        assert second_adapter.get_session(_sid("a")) == self.row("a", "user-alice", now)
        adapter.update_user("user-alice", {"username": "Alicia"})
        adapter.delete_session(_sid("a"))
        assert second_adapter.get_user_by_provider_id("username:alice")["username"] == "Alicia"
        assert second_adapter.get_session(_sid("a")) is None
        second_adapter.set_session(self.row("b", "user-alice", now))
        assert adapter.get_session(_sid("b")) == self.row("b", "user-alice", now)

    def test_dead_sessions_are_counted_and_deleted_in_batches(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        later = now + 2 * DAY  # the moment the sweep runs
        edge = self.row("a", "user-alice", now)  # idle_expires == later: still idle, not dead
        dead = [self.row("b", "user-alice", now, offset=-1), self.row("c", "user-alice", now, offset=-2)]
        live = self.row("d", "user-alice", now, offset=DAY)
        for row in (edge, *dead, live):
            adapter.set_session(row)
        assert adapter.count_dead_sessions(later) == 2
        assert adapter.delete_dead_sessions(later, 1) == 1
        assert adapter.count_dead_sessions(later) == 1
        assert adapter.delete_dead_sessions(later) == 1
        assert adapter.delete_dead_sessions(later) == 0
        assert set(adapter.get_sessions_by_user_id("user-alice")) == {edge, live}
        assert adapter.count_dead_sessions(now) == 0

    def test_superseded_rows_outlive_their_death_by_the_retention(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        later = now + 2 * DAY + 1  # both rows are dead by then
        plain = self.row("a", "user-alice", now)
        superseded = self.row("b", "user-alice", now)._replace(successor=_sid("c"))
        adapter.set_session(plain)
        adapter.set_session(superseded)
        assert adapter.count_dead_sessions(later) == 1
        assert adapter.delete_dead_sessions(later) == 1
        assert adapter.get_sessions_by_user_id("user-alice") == [superseded]
        after_retention = now + 2 * DAY + SUPERSEDED_RETENTION + 1
        assert adapter.count_dead_sessions(after_retention) == 1
        assert adapter.delete_dead_sessions(after_retention, 10) == 1
        assert adapter.get_sessions_by_user_id("user-alice") == []

    # throttles, tokens, codes (AccountAdapter: SPEC §13, §14) ------------------------

    @staticmethod
    def token(char: str, user_id: str, now: int, kind: str = "reset", bound: str | None = None) -> TokenRow:
        """A token row (its id a digest, as the rules store it) expiring an hour from ``now``."""
        return TokenRow(char * 64, kind, user_id, now + 3_600_000, bound)

    @staticmethod
    def code(user_id: str, now: int, kind: str = "sign-in", digest: str = "d" * 64, attempts: int = 0) -> CodeRow:
        return CodeRow(kind, user_id, digest, now + 600_000, attempts)

    def test_a_throttle_is_a_compare_and_set(self, adapter: Any, now: int) -> None:
        # Expiries in the future: Redis expires a bucket at its tat, by real time.
        first, second = now + DAY, now + DAY + 60_000
        assert adapter.get_throttle("login:k") is None
        assert adapter.set_throttle("login:k", first - 1, first) is False  # expected a row: there is none
        assert adapter.get_throttle("login:k") is None
        assert adapter.set_throttle("login:k", None, first) is True
        assert adapter.get_throttle("login:k") == first and type(adapter.get_throttle("login:k")) is int
        assert adapter.set_throttle("login:k", None, second) is False  # expected none: there is one
        assert adapter.set_throttle("login:k", first + 1, second) is False  # stale expectation
        assert adapter.get_throttle("login:k") == first
        assert adapter.set_throttle("login:k", first, second) is True
        assert adapter.get_throttle("login:k") == second
        assert adapter.get_throttle("login:other") is None

    def test_concurrent_throttle_writes_let_exactly_one_win(
        self, adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        adapter.set_throttle("login:k", None, now + DAY)
        barrier = threading.Barrier(8)
        won: list[bool] = []

        def write(offset: int) -> None:
            barrier.wait()
            try:
                won.append(adapter.set_throttle("login:k", now + DAY, now + DAY + 1 + offset))
            finally:
                thread_done(adapter)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(won) == [False] * 7 + [True]
        assert now + DAY + 1 <= adapter.get_throttle("login:k") <= now + DAY + 8

    def test_a_token_pops_once_with_every_field(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        plain, bound = self.token("a", "user-alice", now), self.token("b", "user-alice", now, bound="e" * 64)
        assert adapter.set_token(plain) is None
        adapter.set_token(bound)
        popped = adapter.pop_token(plain.id)
        assert popped == plain and isinstance(popped, TokenRow)
        assert [type(value) for value in popped] == [str, str, str, int, type(None)]
        assert adapter.pop_token(plain.id) is None
        assert adapter.pop_token(bound.id) == bound
        assert adapter.pop_token("z" * 64) is None

    def test_concurrent_pops_give_the_token_to_exactly_one(
        self, adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        self.add_user(adapter, "alice")
        row = self.token("a", "user-alice", now)
        adapter.set_token(row)
        barrier = threading.Barrier(8)
        got: list[TokenRow | None] = []

        def pop() -> None:
            barrier.wait()
            try:
                got.append(adapter.pop_token(row.id))
            finally:
                thread_done(adapter)

        threads = [threading.Thread(target=pop) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(got, key=lambda found: found is not None) == [None] * 7 + [row]

    def test_delete_tokens_by_kind_or_all(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        reset, verify, verify2 = (self.token("a", "user-alice", now), self.token("b", "user-alice", now, "verify"),
                                  self.token("c", "user-alice", now, "verify"))
        bobs = self.token("d", "user-bob", now, "verify")
        for row in (reset, verify, verify2, bobs):
            adapter.set_token(row)
        adapter.delete_tokens("user-alice", "verify")
        adapter.delete_tokens("user-nobody")
        assert adapter.pop_token(verify.id) is None and adapter.pop_token(verify2.id) is None
        adapter.set_token(verify)
        adapter.delete_tokens("user-alice")
        assert adapter.pop_token(reset.id) is None and adapter.pop_token(verify.id) is None
        assert adapter.pop_token(bobs.id) == bobs

    def test_a_code_is_one_per_kind_and_user_and_a_new_one_replaces_it(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        first = self.code("user-alice", now, attempts=3)
        assert adapter.set_code(first) is None
        stored = adapter.get_code("sign-in", "user-alice")
        assert stored == first and isinstance(stored, CodeRow)
        assert [type(value) for value in stored] == [str, str, str, int, int]
        assert adapter.get_code("sign-in", "user-bob") is None
        assert adapter.get_code("other", "user-alice") is None
        other_kind = self.code("user-alice", now, kind="other", digest="o" * 64)
        adapter.set_code(other_kind)
        second = self.code("user-alice", now + 1, digest="n" * 64)
        adapter.set_code(second)  # attempts start again at 0
        assert adapter.get_code("sign-in", "user-alice") == second
        assert adapter.get_code("other", "user-alice") == other_kind

    def test_counting_a_code_attempt_is_a_compare_and_set(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.code("user-alice", now)
        adapter.set_code(row)
        assert adapter.count_code_attempt(row) is True
        assert adapter.get_code("sign-in", "user-alice") == row._replace(attempts=1)
        assert adapter.count_code_attempt(row) is False  # stale: attempts is 1 now
        assert adapter.count_code_attempt(row._replace(attempts=1, digest="x" * 64)) is False  # another code
        assert adapter.count_code_attempt(row._replace(attempts=1)) is True
        assert adapter.get_code("sign-in", "user-alice") == row._replace(attempts=2)
        assert adapter.count_code_attempt(self.code("user-nobody", now)) is False
        assert adapter.get_code("sign-in", "user-nobody") is None

    def test_concurrent_code_attempts_each_count_once(
        self, adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        self.add_user(adapter, "alice")
        row = self.code("user-alice", now)
        adapter.set_code(row)
        barrier = threading.Barrier(8)
        counted: list[bool] = []

        def count() -> None:
            barrier.wait()
            try:
                counted.append(adapter.count_code_attempt(row))
            finally:
                thread_done(adapter)

        threads = [threading.Thread(target=count) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(counted) == [False] * 7 + [True]
        assert adapter.get_code("sign-in", "user-alice") == row._replace(attempts=1)

    def test_delete_code_deletes_only_that_code(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        row = self.code("user-alice", now)
        adapter.set_code(row)
        assert adapter.delete_code(row._replace(digest="x" * 64)) is False  # a newer code is not deleted
        assert adapter.get_code("sign-in", "user-alice") == row
        assert adapter.delete_code(row._replace(attempts=4)) is True  # matched by kind, user and digest
        assert adapter.get_code("sign-in", "user-alice") is None
        assert adapter.delete_code(row) is False

    def test_delete_codes_by_kind_or_all(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        for row in (self.code("user-alice", now), self.code("user-alice", now, kind="other"),
                    self.code("user-bob", now)):
            adapter.set_code(row)
        adapter.delete_codes("user-alice", "other")
        adapter.delete_codes("user-nobody")
        assert adapter.get_code("other", "user-alice") is None
        assert adapter.get_code("sign-in", "user-alice") == self.code("user-alice", now)
        adapter.delete_codes("user-alice")
        assert adapter.get_code("sign-in", "user-alice") is None
        assert adapter.get_code("sign-in", "user-bob") == self.code("user-bob", now)

    def test_delete_expired_removes_only_what_is_past(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        later = now + DAY  # the moment the sweep runs
        adapter.set_throttle("t:past", None, later - 1)
        adapter.set_throttle("t:edge", None, later)
        adapter.set_throttle("t:future", None, later + 1)
        tokens = {expires: TokenRow(char * 64, "reset", "user-alice", expires)
                  for char, expires in (("p", later - 1), ("e", later), ("f", later + 1))}
        for row in tokens.values():
            adapter.set_token(row)
        codes = {expires: CodeRow("sign-in", user, "d" * 64, expires)
                 for user, expires in (("user-alice", later - 1), ("user-bob", later))}
        for row in codes.values():
            adapter.set_code(row)
        if not self.purges_accounts:  # the store expires them itself: a sweep has nothing to do
            assert adapter.delete_expired(later) == 0
            assert adapter.get_throttle("t:past") == later - 1
            assert adapter.pop_token(tokens[later - 1].id) == tokens[later - 1]
            assert adapter.get_code("sign-in", "user-alice") == codes[later - 1]
            return
        assert adapter.delete_expired(later) == 3
        assert adapter.delete_expired(later) == 0
        assert adapter.get_throttle("t:past") is None
        assert adapter.get_throttle("t:edge") == later and adapter.get_throttle("t:future") == later + 1
        assert adapter.pop_token(tokens[later - 1].id) is None
        assert adapter.pop_token(tokens[later].id) == tokens[later]
        assert adapter.pop_token(tokens[later + 1].id) == tokens[later + 1]
        assert adapter.get_code("sign-in", "user-alice") is None
        assert adapter.get_code("sign-in", "user-bob") == codes[later]

    def test_tokens_and_codes_of_an_unknown_user_are_refused(self, adapter: Any, now: int) -> None:
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
            adapter.set_token(self.token("a", "user-nobody", now))
        with pytest.raises(LuciaError, match="AUTH_INVALID_USER_ID"):
            adapter.set_code(self.code("user-nobody", now))
        assert adapter.pop_token("a" * 64) is None
        assert adapter.get_code("sign-in", "user-nobody") is None

    def test_deleting_a_user_ends_their_tokens_and_codes(self, adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        self.add_user(adapter, "bob")
        adapter.set_token(self.token("a", "user-alice", now))
        adapter.set_token(self.token("b", "user-bob", now))
        adapter.set_code(self.code("user-alice", now))
        adapter.set_code(self.code("user-bob", now))
        adapter.delete_user("user-alice")
        assert adapter.pop_token("a" * 64) is None
        assert adapter.get_code("sign-in", "user-alice") is None
        assert adapter.pop_token("b" * 64) == self.token("b", "user-bob", now)
        assert adapter.get_code("sign-in", "user-bob") == self.code("user-bob", now)
        self.add_user(adapter, "alice")  # the same id again starts with nothing
        assert adapter.get_code("sign-in", "user-alice") is None

    @pytest.mark.parametrize("value", AWKWARD_VALUES)
    def test_awkward_user_ids_and_kinds_are_kept_verbatim(self, adapter: Any, now: int, value: str) -> None:
        user_id = "u" + value
        adapter.set_user(user_id, {"provider_id": "p:" + value})
        self.add_user(adapter, "alice")
        token = TokenRow("t" * 64, "k" + value, user_id, now + DAY, value)
        adapter.set_token(token)
        adapter.set_code(CodeRow("k" + value, user_id, "d" * 64, now + DAY))
        adapter.set_code(CodeRow("k" + value, "user-alice", "d" * 64, now + DAY))
        assert adapter.get_code("k" + value, user_id) == CodeRow("k" + value, user_id, "d" * 64, now + DAY)
        assert adapter.get_code("k" + value[:-1], user_id) is None
        adapter.delete_codes(user_id, "k" + value[:-1])
        adapter.delete_tokens(user_id, "k" + value[:-1])
        adapter.delete_tokens(user_id[:-1])
        adapter.delete_codes(user_id[:-1])
        assert adapter.get_code("k" + value, user_id) is not None
        adapter.delete_codes(user_id, "k" + value)
        assert adapter.get_code("k" + value, user_id) is None
        assert adapter.get_code("k" + value, "user-alice") is not None
        adapter.delete_tokens(user_id, "k" + value)
        assert adapter.pop_token(token.id) is None

    def test_account_writes_are_visible_to_another_client(self, adapter: Any, second_adapter: Any, now: int) -> None:
        self.add_user(adapter, "alice")
        adapter.set_throttle("login:k", None, now + DAY)
        adapter.set_token(self.token("a", "user-alice", now))
        adapter.set_code(self.code("user-alice", now))
        assert second_adapter.get_throttle("login:k") == now + DAY
        assert second_adapter.set_throttle("login:k", now + DAY, now + DAY + 1) is True
        assert adapter.get_throttle("login:k") == now + DAY + 1
        assert second_adapter.count_code_attempt(self.code("user-alice", now)) is True
        assert adapter.get_code("sign-in", "user-alice") == self.code("user-alice", now, attempts=1)
        assert second_adapter.pop_token("a" * 64) == self.token("a", "user-alice", now)
        assert adapter.pop_token("a" * 64) is None

    # a database a Lucia app made (lucia_made): our tables appear on first use

    FIRST_USES: ClassVar[dict[str, Callable[[Any, int], Any]]] = {
        "get_throttle": lambda store, now: store.get_throttle("login:k"),
        "set_throttle": lambda store, now: store.set_throttle("login:k", None, now + DAY),
        "set_token": lambda store, now: store.set_token(TokenRow("f" * 64, "reset", "user-1", now + DAY)),
        "pop_token": lambda store, now: store.pop_token("f" * 64),
        "delete_tokens": lambda store, now: store.delete_tokens("user-1"),
        "set_code": lambda store, now: store.set_code(CodeRow("sign-in", "user-1", "f" * 64, now + DAY)),
        "get_code": lambda store, now: store.get_code("sign-in", "user-1"),
        "count_code_attempt": lambda store, now: store.count_code_attempt(CodeRow("sign-in", "user-1", "x", 1)),
        "delete_code": lambda store, now: store.delete_code(CodeRow("sign-in", "user-1", "x", 1)),
        "delete_codes": lambda store, now: store.delete_codes("user-1"),
        "delete_expired": lambda store, now: store.delete_expired(now),
    }

    @pytest.mark.parametrize("first", sorted(FIRST_USES))
    def test_a_lucia_database_gets_our_tables_on_first_use(self, lucia_made_adapter: Any, now: int,
                                                           first: str) -> None:
        store = lucia_made_adapter
        self.FIRST_USES[first](store, now)  # no create_tables(): the first call makes what it needs
        assert store.set_throttle("login:j", None, now + DAY) is True
        assert store.get_throttle("login:j") == now + DAY
        token = TokenRow("t" * 64, "reset", "user-1", now + DAY)
        store.set_token(token)
        assert store.pop_token(token.id) == token
        store.set_code(CodeRow("sign-in", "user-1", "d" * 64, now + DAY))
        assert store.count_code_attempt(CodeRow("sign-in", "user-1", "d" * 64, now + DAY)) is True
        assert store.delete_expired(now + 2 * DAY + 1) >= 1
        assert store.get_user("user-1") == {"id": "user-1", "provider_id": "p:1", "hashed_password": None}

    def test_concurrent_first_uses_of_a_lucia_database_all_work(
        self, lucia_made_adapter: Any, now: int, thread_done: Callable[[Any], None]
    ) -> None:
        store = lucia_made_adapter
        barrier = threading.Barrier(8)
        results: list[object] = []

        def first_use(index: int) -> None:
            barrier.wait()
            try:
                results.append(store.set_throttle(f"login:{index}", None, now + DAY))
            except Exception as error:  # any store's error, shown by the assertion below
                results.append(error)
            finally:
                thread_done(store)

        threads = [threading.Thread(target=first_use, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert results == [True] * 8, results
        assert [store.get_throttle(f"login:{index}") for index in range(8)] == [now + DAY] * 8
