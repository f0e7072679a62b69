"""Webhooks (issue 10): per-project policies that post registry events to an HTTP
endpoint, in Harbor's webhook JSON or as CloudEvents 1.0, signed with HMAC-SHA256,
retried with backoff in order per repository, with a delivery log.

    capability.py  what the core registers (settings, tables, routes, CLI, job, consumer)
    service.py     the domain service: policies, authorization, the delivery log, sending
    store.py       its SQL; schema.py and migrations/ its tables
    payloads.py    the formats and the signature; sender.py one post with httpx
    redact.py      credentials out of what is shown; seal.py secrets encrypted at rest
"""
