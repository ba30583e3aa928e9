"""Durable asynchronous operations: what ListOpRecord shows, advanced step by step by a worker."""
