"""Hot/cold tiering: blobs no image has pulled for a project's D days move, by a job,
to a cold backend (another folder, bucket, prefix or S3 storage class); reads find
them there transparently (storage/tiered.py)."""
