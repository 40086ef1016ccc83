"""The code targets: the one table of targets (`targets.py`), the one walker of the lowered program
(`walker.py`), and a printer per language and form."""
