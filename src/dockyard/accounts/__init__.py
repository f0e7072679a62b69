"""Domain services for management: users, projects, members, robots, repositories.

The management API, the CLI (through that API) and the web UI call these; handlers
only parse, call and render. Each service decides who may do what (through
`Guard`), hashes secrets, applies policy, invalidates what a change makes stale and
writes the audit trail, so every entry point behaves the same.
"""
