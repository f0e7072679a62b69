"""Domain services for running the registry (jobs and schedules; later GC runs,
backups): the API, the CLI and the UI call these, which check who may and audit."""
