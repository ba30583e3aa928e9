"""IAM side: accounts (domains), projects, users, access keys, tokens and request signatures."""
