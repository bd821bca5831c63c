"""storage: the append-only event log and the engine that projects views from it. Generic: it knows events,
streams, positions, keys and views, nothing of the product (an import-linter contract keeps ``monitor`` out).

``engine``     make_engine (SQLite with WAL and immediate write transactions, or PostgreSQL), ``reading`` for
               read-only connections, the UTCDateTime type and the helpers that differ by dialect
``tables``     the tables storage owns: ``events`` and ``projection_checkpoints``, and the Position type
``eventlog``   NewEvent, RecordedEvent, Upcasters and EventLog: idempotent appends in one global order, reads
               by position, stream or type, ``follow``
``projector``  the view engine: a View is a table and its reducers; a Projector catches views up a batch at
               a time, checkpoint in the same transaction, and rebuilds them
``migrate``    the schema's revision and its upgrade with Alembic (scripts in ``storage/migrations``)
``errors``     StorageError, ConcurrencyError, and ``translating``, which turns a driver's error into one
"""
