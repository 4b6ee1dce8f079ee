"""Running an archive: the engine (store, models, live index and its versions), ingest,
index jobs, watching folders and feeds, and the data directory."""
