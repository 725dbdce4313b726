"""``lucia()`` options: defaults, conversions, and every bad configuration failing at construction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucia_wsgi import LuciaError, lucia
from lucia_wsgi.adapters import MemoryAdapter
from lucia_wsgi.cookies import CookieOptions
from lucia_wsgi.csrf import Origin
from lucia_wsgi.passwords import hash_password, verify_password

ADAPTER = MemoryAdapter()


def test_defaults() -> None:
    config = lucia(adapter=ADAPTER, env="DEV").config
    assert config.user_adapter is ADAPTER and config.session_adapter is ADAPTER
    assert (config.active_period, config.idle_period) == (86_400_000, 1_209_600_000)
    assert config.auto_database_cleanup is True
    assert config.csrf.enabled is True and config.csrf.trust_proxy is False
    assert config.csrf.force_https is False and config.csrf.trusted_origins == frozenset()
    assert config.cookie_options == (CookieOptions(same_site="lax", path="/"),)
    assert (config.generate_hash, config.validate_hash) == (hash_password, verify_password)
    assert config.renewal_grace == 5_000
    assert config.secure_cookies is False
    assert config.transform_user_data({"id": "u1", "username": "x"}) == {"user_id": "u1"}
    assert config.hash_session_ids is False and config.bcrypt_migration is False
    assert 1_600_000_000_000 < config.clock() < 10_000_000_000_000


def test_prod_means_secure_cookies_and_https_origin() -> None:
    config = lucia(adapter=ADAPTER, env="PROD").config
    assert config.secure_cookies is True
    assert config.csrf.force_https is True


@pytest.mark.parametrize(
    ("timeout", "active", "idle"),
    [
        pytest.param({"active_period": 1000, "idle_period": 2000}, 1000, 2000, id="ms"),
        pytest.param({"active_period": timedelta(hours=1), "idle_period": timedelta(days=1, milliseconds=5)},
                     3_600_000, 86_400_005, id="timedelta"),
        pytest.param({"idle_period": 7}, 86_400_000, 7, id="one-given"),
    ],
)
def test_session_timeout(timeout: dict[str, Any], active: int, idle: int) -> None:
    config = lucia(adapter=ADAPTER, env="DEV", session_timeout=timeout).config
    assert (config.active_period, config.idle_period) == (active, idle)


def test_split_adapter() -> None:
    users, sessions = MemoryAdapter(), MemoryAdapter()
    config = lucia(adapter={"user": users, "session": sessions}, env="DEV").config
    assert config.user_adapter is users and config.session_adapter is sessions


def test_options_are_kept() -> None:
    def clock() -> int:
        return 42

    def transform(row: dict[str, Any]) -> str:
        return "user " + row["id"]

    config = lucia(
        adapter=ADAPTER, env="DEV", csrf_protection=False, auto_database_cleanup=False,
        transform_user_data=transform, clock=clock, trusted_origins=["https://A.test"], trust_proxy=True,
        renewal_grace=timedelta(seconds=2), session_cookie=[{"same_site": "strict"}, {"domain": "a.test"}],
    ).config
    assert config.csrf.enabled is False and config.auto_database_cleanup is False
    assert config.transform_user_data is transform and config.clock is clock
    assert config.csrf.trusted_origins == frozenset({Origin("https", "a.test", 443)})
    assert config.csrf.trust_proxy is True
    assert config.renewal_grace == 2_000
    assert config.cookie_options == (CookieOptions(same_site="strict"), CookieOptions(domain="a.test"))


def test_zero_renewal_grace_is_allowed() -> None:
    assert lucia(adapter=ADAPTER, env="DEV", renewal_grace=0).config.renewal_grace == 0


BAD = [
    pytest.param({"adapters": ADAPTER}, TypeError, "adapters", id="unknown-option"),
    pytest.param({"sessionTimeout": {}}, TypeError, "sessionTimeout", id="js-spelling"),
    pytest.param({"adapter": None}, TypeError, "adapter", id="no-adapter"),
    pytest.param({"adapter": {"user": ADAPTER}}, ValueError, "adapter", id="adapter-mapping-missing-session"),
    pytest.param({"env": "dev"}, ValueError, "env", id="env-lowercase"),
    pytest.param({"env": "TEST"}, ValueError, "env", id="env-other"),
    pytest.param({"env": None}, ValueError, "env", id="env-none"),
    pytest.param({"session_timeout": {"active_period": 0}}, ValueError, "active_period", id="zero-active"),
    pytest.param({"session_timeout": {"idle_period": -1}}, ValueError, "idle_period", id="negative-idle"),
    pytest.param({"session_timeout": {"idle_period": timedelta(0)}}, ValueError, "idle_period",
                 id="zero-timedelta-idle"),
    pytest.param({"session_timeout": {"active_period": "1000"}}, TypeError, "active_period", id="string-period"),
    pytest.param({"session_timeout": {"active_period": 1.5}}, TypeError, "active_period", id="float-period"),
    pytest.param({"session_timeout": {"active_period": True}}, TypeError, "active_period", id="bool-period"),
    pytest.param({"session_timeout": {"activePeriod": 1}}, ValueError, "session_timeout", id="timeout-unknown-key"),
    pytest.param({"session_cookie": [{"secure": True}]}, ValueError, "session_cookie", id="cookie-key-secure"),
    pytest.param({"session_cookie": [{"sameSite": "lax"}]}, ValueError, "session_cookie", id="cookie-key-js"),
    pytest.param({"session_cookie": [{"same_site": "loose"}]}, ValueError, "same_site", id="cookie-same-site"),
    pytest.param({"session_cookie": [{"path": "/;x"}]}, ValueError, "path", id="cookie-path-semicolon"),
    pytest.param({"session_cookie": []}, ValueError, "session_cookie", id="cookie-empty-list"),
    pytest.param({"session_cookie": "lax"}, TypeError, "session_cookie", id="cookie-string"),
    pytest.param({"trusted_origins": ["example.com"]}, ValueError, "trusted_origins", id="origin-no-scheme"),
    pytest.param({"trusted_origins": ["https://a.test/"]}, ValueError, "trusted_origins", id="origin-path"),
    pytest.param({"trusted_origins": "https://a.test"}, TypeError, "trusted_origins", id="origins-one-string"),
    pytest.param({"hash": hash_password}, TypeError, "hash", id="hash-not-pair"),
    pytest.param({"hash": (hash_password, "x")}, TypeError, "hash validate", id="hash-validate-not-callable"),
    pytest.param({"clock": 5}, TypeError, "clock", id="clock-not-callable"),
    pytest.param({"clock": lambda: 1700000000.5}, TypeError, "clock", id="clock-float-seconds"),
    pytest.param({"adapter": "app.db"}, TypeError, "get_user", id="adapter-not-a-store"),
    pytest.param({"adapter": {"user": ADAPTER, "session": object()}}, TypeError, "session adapter",
                 id="session-adapter-not-a-store"),
    pytest.param({"transform_user_data": "id"}, TypeError, "transform_user_data", id="transform-not-callable"),
    pytest.param({"generate_custom_user_id": 1}, TypeError, "generate_custom_user_id", id="id-fn-not-callable"),
    pytest.param({"renewal_grace": -1}, ValueError, "renewal_grace", id="negative-grace"),
    pytest.param({"max_concurrent_hashes": 0}, ValueError, "max_concurrent_hashes", id="zero-hash-slots"),
    pytest.param({"trust_proxy": "false"}, TypeError, "trust_proxy", id="trust-proxy-string"),
    pytest.param({"csrf_protection": "no"}, TypeError, "csrf_protection", id="csrf-string"),
    pytest.param({"auto_database_cleanup": None}, TypeError, "auto_database_cleanup", id="cleanup-none"),
    pytest.param({"hash_session_ids": 1}, TypeError, "hash_session_ids", id="hash-ids-int"),
]


@pytest.mark.parametrize(("options", "error", "names"), BAD)
def test_bad_configuration_fails_at_lucia(options: dict[str, Any], error: type[Exception], names: str) -> None:
    with pytest.raises(error, match=names):
        lucia(**{"adapter": ADAPTER, "env": "DEV", **options})


# Each would end the attribute early, add one, split the header or not survive a latin-1 header.
COOKIE_ATTRIBUTE_BREAKERS = [
    pytest.param("\x00", id="NUL"), pytest.param("\t", id="TAB"), pytest.param("\r", id="CR"),
    pytest.param("\n", id="LF"), pytest.param("\x1f", id="C0-unit-separator"), pytest.param("\x7f", id="DEL"),
    pytest.param(";", id="semicolon"), pytest.param(",", id="comma"), pytest.param("é", id="latin-1"),
    pytest.param("\u2028", id="line-separator"), pytest.param("\udcff", id="lone-surrogate"),
]


@pytest.mark.parametrize("key", ["path", "domain"])
@pytest.mark.parametrize("char", COOKIE_ATTRIBUTE_BREAKERS)
def test_cookie_path_or_domain_that_could_break_set_cookie_fails_at_lucia(key: str, char: str) -> None:
    value = f"/x{char}y" if key == "path" else f"a{char}.example.com"
    with pytest.raises(ValueError, match=f"session_cookie {key}"):
        lucia(adapter=ADAPTER, env="DEV", session_cookie=[{key: value}])


@given(path=st.text(max_size=12), domain=st.text(max_size=12))
def test_an_accepted_cookie_path_or_domain_stays_one_printable_attribute(path: str, domain: str) -> None:
    try:
        auth = lucia(adapter=ADAPTER, env="DEV", session_cookie=[{"path": path, "domain": domain}])
    except ValueError as error:
        assert "session_cookie path" in str(error) or "session_cookie domain" in str(error)
        return
    header = auth.create_session_cookies(None)[0].serialize()
    assert header.isascii() and header.isprintable()
    assert header.count(";") == header.count("; ") == 4 - (not path) - (not domain)
    assert "," not in header.replace("Thu, 01", "")


NOW = 1_700_000_000_000
LAST_MS = 253_402_300_799_999  # 9999-12-31 23:59:59.999 UTC, the last datetime


@pytest.mark.parametrize(("options", "names"), [
    pytest.param({"session_timeout": {"active_period": 10**19}}, "active_period", id="active-10e19"),
    pytest.param({"session_timeout": {"idle_period": 10**19}}, "idle_period", id="idle-10e19"),
    pytest.param({"session_timeout": {"idle_period": timedelta(days=3_000_000)}}, "idle_period",
                 id="idle-timedelta-8000-years"),
    pytest.param({"session_timeout": {"active_period": (LAST_MS - NOW) // 2 + 1,
                                      "idle_period": (LAST_MS - NOW) // 2 + 1}}, r"active_period \+ idle_period",
                 id="sum-one-ms-too-far"),
    pytest.param({"renewal_grace": 10**19}, "renewal_grace", id="grace-10e19"),
    pytest.param({"renewal_grace": LAST_MS - NOW + 1}, "renewal_grace", id="grace-one-ms-too-far"),
])
def test_a_period_that_would_overflow_the_first_login_fails_at_lucia(options: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=f"{names}.*past 9999-12-31.*at most {LAST_MS - NOW} ms"):
        lucia(adapter=ADAPTER, env="DEV", clock=lambda: NOW, **options)


@pytest.mark.parametrize(("make", "names"), [
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock,
                                     login_throttle={"capacity": 5, "refill_every": 10**19}),
                 r"login_throttle capacity \* refill_every", id="login-refill-10e19"),
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock,
                                     login_throttle={"capacity": 10**30, "refill_every": 1}),
                 r"login_throttle capacity \* refill_every", id="login-capacity-10e30"),
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock).throttle(
        "sign-up", capacity=2, refill_every=(LAST_MS - NOW) // 2 + 1), r"capacity \* refill_every",
        id="throttle-one-ms-too-far"),
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock).tokens("reset", expires_in=10**19),
                 "expires_in", id="token-expires-10e19"),
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock).codes(
        "sign-in", expires_in=LAST_MS - NOW + 1), "expires_in", id="code-expires-one-ms-too-far"),
    pytest.param(lambda clock: lucia(adapter=ADAPTER, env="DEV", clock=clock).tokens(
        "reset", expires_in=1000, issue_limit={"capacity": 3, "refill_every": 10**19}), "issue_limit",
        id="issue-limit-10e19"),
])
def test_a_throttle_or_token_duration_that_would_overflow_its_store_fails_when_made(make: Any, names: str) -> None:
    # Stores keep these instants as 64-bit integers: 10**19 ms raised OverflowError at the first use.
    with pytest.raises(ValueError, match=f"{names}.*past 9999-12-31.*at most {LAST_MS - NOW} ms"):
        make(lambda: NOW)


def test_the_longest_accepted_throttle_and_token_durations_work_on_sqlite(tmp_path: Any) -> None:
    from lucia_wsgi.adapters import SQLiteAdapter

    adapter = SQLiteAdapter(str(tmp_path / "far.db"))
    adapter.create_tables()
    auth = lucia(adapter=adapter, env="DEV", clock=lambda: NOW, hash=(lambda p: p, lambda p, h: p == h),
                 login_throttle={"capacity": 1, "refill_every": LAST_MS - NOW})
    user_id = auth.create_user("u", "far", password="pw")["user_id"]
    assert auth.authenticate_user("u", "far", "pw")["user_id"] == user_id
    with pytest.raises(LuciaError, match="AUTH_TOO_MANY_ATTEMPTS"):
        auth.authenticate_user("u", "far", "pw")
    tokens = auth.tokens("reset", expires_in=LAST_MS - NOW,
                         issue_limit={"capacity": 1, "refill_every": LAST_MS - NOW})
    assert tokens.consume(tokens.issue(user_id)) == user_id


def test_the_longest_accepted_periods_still_log_in_and_renew_on_sqlite(tmp_path: Any) -> None:
    from lucia_wsgi.adapters import SQLiteAdapter

    adapter = SQLiteAdapter(str(tmp_path / "far.db"))
    adapter.create_tables()
    now = [NOW]
    auth = lucia(adapter=adapter, env="DEV", clock=lambda: now[0], hash=(lambda p: p, lambda p, h: p == h),
                 session_timeout={"active_period": 1000, "idle_period": LAST_MS - NOW - 1000},
                 renewal_grace=LAST_MS - NOW)
    user = auth.create_user("u", "far", password="pw")
    session = auth.create_session(user["user_id"])
    assert session.idle_period_expires.year == 9999
    now[0] += 2000  # idle: renewal writes the grace row at now + grace, still a valid datetime
    assert auth.validate_session(session.session_id).is_fresh
    assert "Expires=Fri, 31 Dec 9999" in auth.create_session_cookies(session)[0].serialize()
    adapter.close()


def test_missing_env_fails() -> None:
    with pytest.raises(TypeError, match="env"):
        lucia(adapter=ADAPTER)
