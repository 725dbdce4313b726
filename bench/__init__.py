"""lucia_wsgi's benchmark suite: ``python -m bench`` (``--quick``, ``--json FILE``, ``--server``,
``--instructions``, ``--plot FILE.png``, ``--profile KEY``).

Modules: :mod:`~bench.harness` (timing), :mod:`~bench.headers` (the two
Cookie headers, row keys), :mod:`~bench.dbs` (SQLite databases),
:mod:`~bench.floors` (read and write floors), :mod:`~bench.apps` (hello,
lucia apps), :mod:`~bench.cases` (SQLite rows), :mod:`~bench.services`
(PostgreSQL, Redis), :mod:`~bench.peers` and :mod:`~bench.peer_django`
(Flask-Login, Beaker, Django), :mod:`~bench.memory`, :mod:`~bench.server`
(gunicorn + wrk), :mod:`~bench.instructions` (callgrind counts),
:mod:`~bench.profile` (cProfile, µs per step), :mod:`~bench.targets`,
:mod:`~bench.report` (table, JSON), :mod:`~bench.plot` (the PNG).
"""
