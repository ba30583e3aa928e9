"""HTTP plumbing every router shares: the server's context, the authenticated caller, strict body and query parsing,
error rendering, and the request middleware. Who the caller is gets decided by the authenticator the app plugs in
(the IAM domain's); this package knows nothing of any domain."""
