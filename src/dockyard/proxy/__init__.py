"""The proxy cache (capability "proxy"): a project that is a pull-through cache of a
stored registry endpoint, and Dockyard as containerd's transparent mirror (`?ns=`).
See docs/proxy-cache.md."""
