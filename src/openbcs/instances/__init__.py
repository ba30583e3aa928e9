"""Blockchain instances: the modelled Fabric network of a tenant (organisations, peers, orderers), quotas, flavors."""
