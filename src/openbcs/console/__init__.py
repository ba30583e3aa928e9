"""The web console at ``/console``: server-rendered pages for consortium operators (docs/console.md).

It sits above the domains, beside the app's routers: every action calls the same service function, with the same
request model and the same tenancy checks, as the API route for it. The session is the IAM token in an HttpOnly
cookie; every form carries a CSRF token bound to that session.
"""
