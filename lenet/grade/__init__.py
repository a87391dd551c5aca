"""``python -m lenet.grade``: check answers to tasks 0-3 and explain what is wrong.

``cases`` builds the calls, group by group; ``runner`` runs a task file's calls in a child
process (``child``) with a time and a memory limit; ``checks`` holds the TensorFlow and
finite-difference references and the hints; ``grading`` puts it together;
``__main__`` is the command line. Importing this package imports NumPy only.
"""
