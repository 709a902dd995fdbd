"""Department warning feeds: intake (intake.py), row normalisation (rows.py; a large list on
every core: parallel.py, helper.py), set-based matching (matching.py) and the village's
verification of clues (clues.py)."""
