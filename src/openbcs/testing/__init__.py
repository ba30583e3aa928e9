"""OpenBCS for your tests: a pytest plugin (registered as ``pytest11`` entry point ``openbcs``, so installing OpenBCS
is enough) with the fixtures ``openbcs_server``, ``openbcs_account`` and ``openbcs_reset``.

- ``openbcs_server`` (session): a server on a free loopback port with a temporary SQLite database and zero-length
  operation steps, or the running server named by ``--openbcs-url`` (with ``--openbcs-admin-token``, or
  ``OPENBCS_URL`` / ``OPENBCS_ADMIN_TOKEN``). ``.url``, ``.reset()``, ``.apply(yaml_text)``.
- ``openbcs_account`` (factory): ``openbcs_account()`` creates a fresh account and answers its ids, password,
  AK/SK, and ``.client``, a ready ``huaweicloudsdkbcs`` ``BcsClient`` (needs ``pip install 'openbcs[sdk]'``).
- ``openbcs_reset``: empties the server before the test (every account, instance and operation is deleted).
"""

from openbcs.testing.server import OpenBCSAccount, OpenBCSServer

__all__ = ["OpenBCSAccount", "OpenBCSServer"]
