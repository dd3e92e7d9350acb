"""``python -m northbridge_ops``, or the ``northbridge`` command."""

from northbridge_ops.cli import main

if __name__ == "__main__":
    main()
