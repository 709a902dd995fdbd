"""Department warning feeds: intake (intake.py), row normalisation (rows.py), set-based
matching (matching.py) and the village's verification of clues (clues.py)."""
