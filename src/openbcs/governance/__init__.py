"""Members who hold their own admin keys (docs/governance.md): an organisation's admin custody (``hosted``, the
default, or ``external``), and the signature requests a channel change waits in when its policy needs the signature
of an organisation whose admin key OpenBCS does not hold.

``models.py`` (the requests), ``gate.py`` (the wait every channel change passes through), ``signatures.py``
(verifying an uploaded signature), ``service.py`` and ``routes.py`` (the API), ``custody.py`` (the switch to external
custody and its operation kind).
"""
