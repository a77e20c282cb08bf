"""``python -m cumulus.cli._entry``: the console script, for environments without it."""

from cumulus.cli import main

if __name__ == "__main__":
    main()
