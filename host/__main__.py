"""``python -m host``: the same command line as the ``agent-host`` console script."""

from host.cli import main

if __name__ == "__main__":
    main()
