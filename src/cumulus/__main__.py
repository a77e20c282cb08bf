"""``python -m cumulus`` runs the command line."""

from cumulus.cli import main

main()
