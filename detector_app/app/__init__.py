"""Application state without Qt: session, project store, autosave, undo, jobs."""
