"""From a question to quotes: retrieval, answer composition, follow-up resolution,
conversations and question cues. Knows nothing of HTTP or of where the index lives."""
