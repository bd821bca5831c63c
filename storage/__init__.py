"""storage: the append-only event log and the read models projected from it."""
