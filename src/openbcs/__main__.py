"""``python -m openbcs``: the ``openbcs`` command."""

from openbcs.cli import main

if __name__ == "__main__":
    main()
