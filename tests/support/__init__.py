"""What every test suite shares. Import from the module that owns a helper:

- :mod:`tests.support.accounts` — ``TestAccount`` (an account with its password and AK/SK), ``token_body``,
  ``issue_token``.
- :mod:`tests.support.tenants` — ``Tenant``: one account's whole BCS API over any httpx client (``TestClient`` or a
  live server), with waiting for operations; ``new_tenant``.
- :mod:`tests.support.bodies` — valid request bodies with overrides: ``create_body``, ``union_instance_body``,
  ``invitee_instance_body``, ``invite_body``.
- :mod:`tests.support.consortia` — ``setup_consortium`` → ``Consortium`` (inviter, invitee, a waiting invitation).
- :mod:`tests.support.operations` — driving operations from the test (apps whose worker is stopped or frozen):
  ``drive_operations``, ``step_operation``, ``stop_worker``, ``wait_started``, ``operation_rows``,
  ``operation_locks`` (what running operations hold).
- :mod:`tests.support.diagnostic` — operations of the engine's diagnostic kind seeded in chosen states (``seed``,
  ``start_in``, ``advance_until_done``), read back (``stored``, ``all_stored``), its effects file (``read_effects``),
  ``wait_for``, ``new_project``.
- :mod:`tests.support.snapshots` — stored state read straight from the database: ``snapshot`` (every row of the model
  tables: "nothing changed"), ``row_count``, ``invitations``, ``config_blocks``; ``Statements`` (the SQL sent
  meanwhile: "refused before any database work").
- :mod:`tests.support.errors` — ``error`` (status, code, message), ``assert_error``, ``assert_unauthorized``,
  ``assert_forbidden``, ``request_id_of``.
- :mod:`tests.support.expected` — names as the docs define them, computed independently of OpenBCS: ``org_hash``,
  ``msp_id``, ``peer_names``, ``orderer_names``, ``org_domain``, ``block_orgs`` (a configuration block's orgs).
- :mod:`tests.support.servers` — ``LiveServer`` (the app on a loopback port), ``free_port``, ``sdk_signed_headers``,
  ``race`` and ``request`` (calls fired at the same moment from their own threads); ``start_serve``,
  ``wait_healthy``, ``stop_serve``, ``serve_env``, ``trusting`` (``openbcs serve`` as a process).

Fixtures (``tests/conftest.py``): ``db``, ``settings``, ``client``, ``frozen_client``, ``live_server``,
``make_account``, ``make_tenant``, ``tenant``, ``other_tenant``, ``token_for``, ``sdk_client``, ``server_key``.
"""
