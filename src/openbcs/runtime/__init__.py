"""Runtimes: what makes a network's nodes real (``docs/runtime.md``). Above the network model, below the domains.

Modules and their one job each::

    config      RuntimeConfig.of(settings): which runtime, the nodes' host, port range and folder, Fabric's binaries
    setup       problem(settings, db): why ``serve`` may not start with them (binaries, another runtime's instances)
    specs       NodeSpec, NodeIdentity, Endpoint, Client: the plain values a runtime is given
    models      runtime_nodes (desired and observed), runtime_tasks (join, leave, order, serve), runtime_leases
    base        Runtime: start, await_started, stop, remove, forget, status, health, metrics_url, join, leave,
                await_channel, order, close
    modelled    ModelledRuntime: nothing runs (today's behaviour, the default)
    local/      LocalRuntime (backend) on binaries, render, process, osnadmin, wire: Fabric 2.5 processes
    tasks       for actions, inside their transactions: want_running, nodes_ready, want_removed, nodes_removed,
                hand_off, handed_off, outcome (Pending while the supervisor works)
    ordering    through_runtime(session, ctx, change, instance_ids), join_channels, leave_channel: every channel
                change of the local runtime through the real orderers, then the peers
    nodespecs   node_spec, admin_client, orderers_of: rows as specs (keys unsealed), read by the supervisor only
    supervisor  Supervisor (one thread per server): reconcile nodes, health every 3 s, run tasks; make_supervisor
    observed    what the supervisor writes back: up, down (status, alarm, event), removed
    lease       hold, release: one server process supervises the nodes at a time

The domains call ``tasks`` and ``ordering`` only; ``app.py`` builds the supervisor and its runtime; nothing else
calls a Runtime.
"""
