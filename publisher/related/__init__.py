"""Related articles: a text index of the archive and the engine that answers from it."""
