"""``python -m lenet.grade``: check answers to tasks 0-3 by the exercise's contract.

``cases`` builds the calls, group by group (and the extras that give notes); ``runner`` runs a
task file's calls in a contained child process (``child``; bubblewrap where it runs) and reads
back what it returns; ``checks`` holds the references (``lenet.references``), comparisons and
hints; ``grading`` puts it together, one file at a time; ``__main__`` is the command line.
Importing this package imports NumPy only.
"""
