"""The Redis side of charging: the charging steps and outcomes, the atomic Lua steps and
the adapter that runs them, provisioning of accounts and sharing groups."""
