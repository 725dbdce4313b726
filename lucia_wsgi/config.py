"""Checking ``lucia()`` options once, at construction, into a frozen :class:`Config`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Union

from .cookies import CookieOptions
from .csrf import CsrfPolicy
from .passwords import hash_password, verify_password
from .throttle import Bucket

__all__ = ["Config", "build_config", "system_clock", "default_transform_user_data"]

Duration = Union[int, timedelta]
HashPair = tuple[Callable[[str], str], Callable[[str, str], bool]]

DAY_MS = 24 * 60 * 60 * 1000
DEFAULT_ACTIVE_PERIOD = DAY_MS
DEFAULT_IDLE_PERIOD = 14 * DAY_MS
DEFAULT_RENEWAL_GRACE = 5_000
DEFAULT_MAX_CONCURRENT_HASHES = 4
#: The last expiry a session can have, in Unix ms: 9999-12-31 23:59:59.999 UTC.
#: Expiries are stored as Unix ms (a PostgreSQL BIGINT would hold far more) but
#: read back as ``datetime``s, which end with the year 9999.
LATEST_EXPIRY_MS = (datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=timezone.utc)
                    - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def system_clock() -> int:
    """The current Unix time in milliseconds."""
    return time.time_ns() // 1_000_000


def default_transform_user_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Lucia's default ``User``: just the id."""
    return {"user_id": data["id"]}


def duration_ms(name: str, value: object, *, allow_zero: bool = False, now: int | None = None) -> int:
    """``value`` (ms or a ``timedelta``) in whole ms; with ``now``, it must also reach no later than 9999."""
    if isinstance(value, timedelta):
        ms = value // timedelta(milliseconds=1)
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise TypeError(f"{name} must be milliseconds (int) or a timedelta, not {type(value).__name__}")
    if ms < 0 or (ms == 0 and not allow_zero):
        raise ValueError(f"{name} must be positive, got {ms} ms")
    if now is not None:
        _check_reach(name, ms, now)
    return ms


def _flag(name: str, value: object) -> bool:
    # Strict on purpose: trust_proxy="false" read from an environment variable
    # would otherwise switch forwarded-header trust *on*.
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _callable(name: str, value: object) -> None:
    if not callable(value):
        raise TypeError(f"{name} must be callable")


@dataclass(frozen=True)
class Config:
    """Validated options of one :class:`~lucia_wsgi.Auth`."""

    user_adapter: Any
    session_adapter: Any
    env: str
    active_period: int
    idle_period: int
    auto_database_cleanup: bool
    transform_user_data: Callable[[dict[str, Any]], Any]
    cookie_options: tuple[CookieOptions, ...]
    generate_hash: Callable[[str], str]
    validate_hash: Callable[[str, str], bool]
    generate_custom_user_id: Callable[[], str | None] | None
    clock: Callable[[], int]
    csrf: CsrfPolicy
    renewal_grace: int
    hash_session_ids: bool
    bcrypt_migration: bool
    max_concurrent_hashes: int
    renewal: str = "rotate"
    device_details: bool = False
    login_throttle: Bucket | None = None

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies get ``Secure``: with ``env="PROD"``."""
        return self.env == "PROD"


_USER_METHODS = ("get_user", "get_user_by_provider_id", "set_user", "update_user", "delete_user")
_SESSION_METHODS = ("get_session", "get_sessions_by_user_id", "set_session", "delete_session",
                    "delete_sessions_by_user_id")
RENEWAL_MODES = ("rotate", "extend")
#: Ten log-in attempts at once per identifier, then one a minute (see docs/howto/throttling.rst).
DEFAULT_LOGIN_THROTTLE: Mapping[str, Duration] = {"capacity": 10, "refill_every": 60_000}


def parse_bucket(name: str, value: object, now: int) -> Bucket:
    """``{"capacity": N, "refill_every": ms or timedelta}`` as a :class:`~lucia_wsgi.throttle.Bucket`.

    A full bucket is stored as the instant it refills, up to ``capacity * refill_every``
    after ``now``: that must be a storable time, or the first attempt would fail.
    """
    if not isinstance(value, Mapping) or set(value) != {"capacity", "refill_every"}:
        raise TypeError(f"{name} must be a mapping with exactly capacity and refill_every, not {value!r}")
    capacity = value["capacity"]
    if type(capacity) is not int or capacity < 1:
        raise ValueError(f"{name} capacity must be a positive int, not {capacity!r}")
    bucket = Bucket(capacity, duration_ms(f"{name} refill_every", value["refill_every"]))
    _check_reach(f"{name} capacity * refill_every", capacity * bucket.refill_every, now)
    return bucket


def _check_methods(role: str, adapter: object, methods: tuple[str, ...]) -> None:
    missing = [name for name in methods if not callable(getattr(adapter, name, None))]
    if missing:
        raise TypeError(f"{role} {adapter!r} lacks the adapter methods {', '.join(missing)}")


def _split_adapter(adapter: object) -> tuple[Any, Any]:
    if adapter is None:
        raise TypeError("lucia() needs an adapter")
    if isinstance(adapter, Mapping):
        if set(adapter) != {"user", "session"}:
            raise ValueError("adapter mapping must have exactly the keys 'user' and 'session'")
        users, sessions = adapter["user"], adapter["session"]
    else:
        users = sessions = adapter
    _check_methods("adapter" if users is sessions else "user adapter", users, _USER_METHODS)
    _check_methods("adapter" if users is sessions else "session adapter", sessions, _SESSION_METHODS)
    return users, sessions


def _check_clock(clock: Callable[[], int]) -> int:
    """``clock()``, which must be whole milliseconds: ``time.time`` (float seconds) is a classic slip."""
    now = clock()
    if type(now) is not int:
        raise TypeError(f"clock must return Unix time in milliseconds as an int, got {now!r}")
    return now


def _check_reach(name: str, period_ms: int, now: int) -> None:
    """``period_ms`` from ``now`` must not pass :data:`LATEST_EXPIRY_MS`: the first use would fail."""
    room = LATEST_EXPIRY_MS - now
    if period_ms > room:
        raise ValueError(
            f"{name} is {period_ms} ms, which reaches past 9999-12-31 (the stores keep times as Unix ms, "
            f"read back as datetimes, which end with the year 9999); at most {room} ms from now"
        )


def _cookie_options(value: object) -> tuple[CookieOptions, ...]:
    if value is None:
        return (CookieOptions(same_site="lax", path="/"),)
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, Iterable) or isinstance(value, (str, bytes)):
        raise TypeError("session_cookie must be a list of dicts with same_site, path, domain")
    options = tuple(CookieOptions.from_mapping(item) for item in value)
    if not options:
        raise ValueError("session_cookie needs at least one entry")
    return options


def build_config(
    *,
    adapter: object,
    env: str,
    session_timeout: Mapping[str, Duration] | None = None,
    csrf_protection: bool = True,
    auto_database_cleanup: bool = True,
    transform_user_data: Callable[[dict[str, Any]], Any] | None = None,
    session_cookie: Iterable[Mapping[str, Any]] | None = None,
    hash: HashPair | None = None,  # noqa: A002 - Lucia's option name
    generate_custom_user_id: Callable[[], str | None] | None = None,
    clock: Callable[[], int] | None = None,
    trusted_origins: Iterable[str] = (),
    trust_proxy: bool = False,
    renewal_grace: Duration = DEFAULT_RENEWAL_GRACE,
    hash_session_ids: bool = False,
    bcrypt_migration: bool = False,
    max_concurrent_hashes: int = DEFAULT_MAX_CONCURRENT_HASHES,
    renewal: str = "rotate",
    device_details: bool = False,
    login_throttle: Mapping[str, Duration] | None = DEFAULT_LOGIN_THROTTLE,
) -> Config:
    """Check every option and fill in defaults; raises ``TypeError``/``ValueError``."""
    user_adapter, session_adapter = _split_adapter(adapter)
    if env not in ("DEV", "PROD"):
        raise ValueError(f"env must be 'DEV' or 'PROD', not {env!r}")
    timeout = dict(session_timeout or {})
    unknown = set(timeout) - {"active_period", "idle_period"}
    if unknown:
        raise ValueError(f"session_timeout accepts active_period and idle_period, not {sorted(unknown)}")
    active = duration_ms("session_timeout active_period", timeout.get("active_period", DEFAULT_ACTIVE_PERIOD))
    idle = duration_ms("session_timeout idle_period", timeout.get("idle_period", DEFAULT_IDLE_PERIOD))
    hash_pair = (hash_password, verify_password) if hash is None else hash
    if not (isinstance(hash_pair, tuple) and len(hash_pair) == 2):
        raise TypeError("hash must be a (generate, validate) pair of callables")
    _callable("hash generate", hash_pair[0])
    _callable("hash validate", hash_pair[1])
    for name, fn in (("transform_user_data", transform_user_data),
                     ("generate_custom_user_id", generate_custom_user_id), ("clock", clock)):
        if fn is not None:
            _callable(name, fn)
    now = system_clock() if clock is None else _check_clock(clock)
    grace = duration_ms("renewal_grace", renewal_grace, allow_zero=True)
    _check_reach("session_timeout active_period + idle_period", active + idle, now)
    _check_reach("renewal_grace", grace, now)
    if isinstance(trusted_origins, str):
        raise TypeError("trusted_origins must be a list of origins, not one string")
    if type(max_concurrent_hashes) is not int or max_concurrent_hashes < 1:
        raise ValueError("max_concurrent_hashes must be a positive int")
    for name, flag in (("csrf_protection", csrf_protection), ("auto_database_cleanup", auto_database_cleanup),
                       ("trust_proxy", trust_proxy), ("hash_session_ids", hash_session_ids),
                       ("bcrypt_migration", bcrypt_migration), ("device_details", device_details)):
        _flag(name, flag)
    if renewal not in RENEWAL_MODES:
        raise ValueError(f"renewal must be 'rotate' or 'extend', not {renewal!r}")
    if renewal == "extend" and not callable(getattr(session_adapter, "extend_session", None)):
        raise TypeError(f"renewal='extend' needs a session store with extend_session(); {session_adapter!r} lacks it")
    bucket = None if login_throttle is None else parse_bucket("login_throttle", login_throttle, now)
    if bcrypt_migration:
        try:
            import bcrypt  # noqa: F401
        except ImportError:
            raise ValueError("bcrypt_migration=True needs the 'bcrypt' package: pip install bcrypt") from None
    return Config(
        user_adapter=user_adapter,
        session_adapter=session_adapter,
        env=env,
        active_period=active,
        idle_period=idle,
        auto_database_cleanup=auto_database_cleanup,
        transform_user_data=transform_user_data or default_transform_user_data,
        cookie_options=_cookie_options(session_cookie),
        generate_hash=hash_pair[0],
        validate_hash=hash_pair[1],
        generate_custom_user_id=generate_custom_user_id,
        clock=clock or system_clock,
        csrf=CsrfPolicy.build(enabled=csrf_protection, force_https=env == "PROD",
                              trust_proxy=trust_proxy, trusted_origins=trusted_origins),
        renewal_grace=grace,
        hash_session_ids=hash_session_ids,
        bcrypt_migration=bcrypt_migration,
        max_concurrent_hashes=max_concurrent_hashes,
        renewal=renewal,
        device_details=device_details,
        login_throttle=bucket,
    )
