"""Channels of an instance: which organisations and peers are in them, and each channel's configuration history."""
