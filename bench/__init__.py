"""lucia_wsgi's benchmark suite: ``python -m bench`` (``--quick``, ``--json FILE``, ``--server``).

Modules: :mod:`~bench.harness` (timing), :mod:`~bench.dbs` (SQLite databases),
:mod:`~bench.apps` (hello, floors, lucia apps), :mod:`~bench.cases` (SQLite
rows), :mod:`~bench.services` (PostgreSQL, Redis), :mod:`~bench.peers` and
:mod:`~bench.peer_django` (Flask-Login, Beaker, Django), :mod:`~bench.memory`,
:mod:`~bench.server` (gunicorn + wrk), :mod:`~bench.report` (table, targets, JSON).
"""
