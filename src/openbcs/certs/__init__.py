"""Certificates: a real PKI per organisation, user certificates with freeze/unfreeze, MSP and SDK-config archives."""
