"""Storage drivers (local, glusterfs) and what they share: the directory tree, node mounts, the canary."""
