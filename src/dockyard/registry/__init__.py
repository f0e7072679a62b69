"""Distribution logic: uploads, blobs, manifests, tags, referrers. No HTTP here."""
