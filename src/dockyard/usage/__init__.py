"""Storage usage: the dedup report (what the manifests reference, counted per image,
against what is stored, each blob once), per project and for the system, in the API,
the CLI and the metrics."""
