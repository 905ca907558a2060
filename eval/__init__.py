"""Retrieval-quality evaluation: question sets (questions.py), metrics (metrics.py), the command (run.py), reports."""
