"""The same-work floor: a Starlette app with raw ``sqlite3`` (or ``psycopg``) and ``cryptography`` that does exactly
what each measured call must do — check the token or the signature, run the call's queries on OpenBCS's own
database, answer the same JSON — and nothing else. ``app`` assembles it; ``db``, ``auth``, ``reads`` and ``quit``
hold the parts."""
