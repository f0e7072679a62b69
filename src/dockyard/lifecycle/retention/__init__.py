"""Retention and tag immutability, as two capabilities (dockyard.capabilities) built
from one package:

- "retention": its tables (migrations/, the Alembic branch "retention": immutability
  rules and retention policies), the API routes of both (api.py), the job kind
  "retention.run" and its daily schedule (jobs.py), `dockyard retention …`;
- "immutability": the tag policy the registry asks before a tag moves or goes
  (immutability.py), `dockyard immutability …`.

Pull statistics, which retention reads, are the core's (registry/pulls.py).
"""
