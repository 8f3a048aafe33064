"""Hypothesis settings profiles for the suite, and the optional shared example database.

Hypothesis's own profiles stay as they are: ``default`` (100 examples per clause) and ``ci``
(derandomized, no deadline, no local database, prints the reproduction blob), which Hypothesis
loads by itself when a CI environment variable is set. The suite adds:

* ``rnn-fast``: 25 examples per clause, for a quick local check while developing a kernel;
* ``rnn-thorough``: 1000 examples per clause, for nightly runs.

Select one with Hypothesis's ``--hypothesis-profile=NAME``.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase, MultiplexedDatabase

PROFILES = {"rnn-fast": dict(max_examples=25), "rnn-thorough": dict(max_examples=1000)}


def register() -> None:
    for name, values in PROFILES.items():
        settings.register_profile(name, parent=settings.get_profile("default"), **values)


def open_database(url: str):
    """``redis://host:port/db`` -> Hypothesis's RedisExampleDatabase; anything else is a directory
    (e.g. a CI cache folder shared between jobs)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis
            from hypothesis.extra.redis import RedisExampleDatabase
        except ImportError as e:
            raise ValueError(
                f"{url} needs the redis package (pip install 'rnn-conformance[redis]'): {e}"
            ) from None
        client = redis.Redis.from_url(url)
        try:
            client.ping()
        except Exception as e:
            raise ValueError(f"cannot reach the example database at {url}: {type(e).__name__}: {e}") from None
        return RedisExampleDatabase(client)
    return DirectoryBasedExampleDatabase(url)


def share_database(url: str) -> str:
    """Layer the shared database onto the profile in force (keeping its local database, if any,
    so that failures land in both); returns the name of the profile now loaded."""
    shared = open_database(url)
    current = settings.default
    database = shared if current.database is None else MultiplexedDatabase(current.database, shared)
    name = f"{settings.get_current_profile_name()}+shared-database"
    settings.register_profile(name, parent=current, database=database)
    settings.load_profile(name)
    return name
