"""The kernel every other layer builds on: the database and its unit of work, errors, time, settings, the server
key, logging, request parsing and the authenticated caller. It imports nothing else from OpenBCS."""
