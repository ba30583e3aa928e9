"""The API reference: the OpenAPI 3.1 document assembled from the app's routes (:mod:`.document`), served at
``/openapi.json`` and browsable offline at ``/docs`` (:mod:`.routes`), and rendered as ``docs/api.md``
(:mod:`.markdown`)."""
