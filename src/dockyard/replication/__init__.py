"""Replication between registries (issue 12): push (local → remote endpoint) and pull
(remote → local) policies. So far only the pure parts are here (policy.py: filters and
the destination-name rewrite); the capability (store, planner, copier, jobs, API, CLI)
is not registered yet."""
