"""A run: the loop (the journal's only writer), its assembly (replay reuses it), the roles it
injects into the agents graph, its settings, warm start, progress and summary."""
