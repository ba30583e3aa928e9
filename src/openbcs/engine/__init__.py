"""The operation engine: durable asynchronous operations (kinds, steps, payloads), the locks they hold on the
resources they change, the worker that advances them, and the records ListOpRecord reads."""
