"""Backup and restore: `dockyard backup create DEST` writes a consistent snapshot of the
metadata (one transaction snapshot on PostgreSQL, SQLite's online-backup API on the
embedded default) and the blobs it names, copied incrementally, to a folder or an S3
bucket, while the registry keeps serving; `dockyard restore SRC` rebuilds an empty
instance of either topology from it; `dockyard backup verify` re-checks a backup.

Layout of a destination (docs/backup.md):

    blobs/sha256/<xx>/<hex>                   every blob once, shared by all snapshots
    snapshots/<id>/tables/<table>.jsonl.gz    the rows, one JSON object per line
    snapshots/<id>/snapshot.json              written last: the snapshot exists once it does
"""
