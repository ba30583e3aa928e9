"""Operators' and CI's tools over the whole database: reset, state export and import (:mod:`.state`), declarative
seed files (:mod:`.seed`), and the admin API that serves them when ``--admin-token`` is set (:mod:`.routes`)."""
