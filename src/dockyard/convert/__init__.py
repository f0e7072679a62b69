"""The conversion capability ("convert", docs/operations.md "zstd layers"): the
`convert.zstd` job rewrites an image's gzip layers as zstd (recompress.py streams one
layer, image.py rewrites manifests and indexes, service.py starts and runs the job),
`POST /api/v1/projects/{project}/repositories/{repository}/-/artifacts/{reference}/convert`
(api.py) and `dockyard convert zstd` (cli.py)."""
