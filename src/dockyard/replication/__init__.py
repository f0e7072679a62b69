"""Replication between registries: push (this registry → a stored endpoint) and pull
(an endpoint → this registry) policies, triggered by hand, by this registry's events
or on a cron; filters, a destination-name rewrite, delete propagation, a bandwidth
limit, dry runs; executions with one item per artifact, resumed after failure and
retried with backoff.

policy.py (filters, rewrite) → planner.py (what to copy) → copy.py (how, over the
two sides of sides.py) → runner.py (executions: lease, order, retries) → jobs.py
(the jobs and the event consumer) → service.py / api.py / cli.py (administration).
store.py and tables.py hold it; capability.py plugs it in."""
