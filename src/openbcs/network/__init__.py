"""The network model every domain reads: instances, organisations, nodes and orderers, channels with their members
and configuration history, and each organisation's PKI — tables, lookups, guards and naming. Domains change the
model through the functions here; nothing in it is a running Fabric node."""
