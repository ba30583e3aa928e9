"""Runtimes: what makes a network's nodes real (``specs`` holds the values every runtime is given)."""
