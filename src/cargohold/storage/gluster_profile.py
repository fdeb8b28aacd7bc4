"""The volume options cargohold sets on every GlusterFS volume, and why. Users override any of them
with `storage.options` in the fleet file.

Measured on the project's machines (docs/benchmarks.md, LAB-NOTES): with the default
network.ping-timeout of 42 s a hung data node froze writes for 61-79 s (the stall runs between 1x
and 2x the timeout); after recovery the self-heal daemon waited for its 600 s periodic crawl.
"""

from __future__ import annotations

PROFILE: dict[str, tuple[str, str]] = {
    # name: (value, why)
    "network.ping-timeout": (
        "5",
        "how long a client waits for a silent brick before declaring it dead; writes to a hung node stall "
        "for 1-2x this (default 42 s: up to 84 s of frozen uploads; 5 s: about 10 s)",
    ),
    "cluster.quorum-type": (
        "auto",
        "client quorum: a write needs a majority of the replica set (2 of 3 with the arbiter), so two "
        "partitions can never both write the same file (split-brain)",
    ),
    "cluster.self-heal-daemon": ("on", "heal bricks in the background after a node comes back"),
    "cluster.heal-timeout": (
        "10",
        "the self-heal daemon's periodic crawl (default 600 s): after a node returns, heal starts within "
        "seconds instead of up to ten minutes",
    ),
    # The metadata-cache group GlusterFS recommends for small-file workloads, limited to what keeps every
    # web node reading exactly what was acknowledged (bench/truth, bench/smallfile; docs/storage.md).
    "features.cache-invalidation": ("on", "bricks notify clients when a file they cached changes (upcall)"),
    "features.cache-invalidation-timeout": ("600", "how long bricks keep sending those notifications to a client"),
    "performance.cache-invalidation": ("on", "md-cache drops an entry when the brick says it changed"),
    "performance.stat-prefetch": ("on", "md-cache: serve stat/getxattr from the client cache"),
    "performance.md-cache-timeout": (
        "1",
        "GlusterFS's default, set explicitly because an earlier profile used 600: with a long timeout, files "
        "written in place during a brick hang or partition read back as 0 bytes through the mounts for up "
        "to the timeout, while the bricks held them whole (bench/truth: 14,767 of 86,236 reads wrong with "
        "600, 0 of 84,266 with 1)",
    ),
    "performance.quick-read-cache-invalidation": (
        "on",
        "quick-read (on by default) caches small files' bytes; with cache invalidation on it ignores its 1 s "
        "timeout, so without this a rewrite made on another node was never seen (measured > 120 s); with it, "
        "in a few milliseconds",
    ),
    "network.inode-lru-limit": ("200000", "keep many inodes cached: a Drupal files/ tree has many small files"),
    "performance.nl-cache": (
        "on",
        "negative-lookup cache: `file_exists()` of a missing file (PHP does many) is answered by the client; "
        "invalidated by upcall when another node creates the name",
    ),
    "performance.nl-cache-timeout": ("600", "negative entries live long; upcalls keep them right"),
}

# Server quorum: glusterd stops its bricks when it loses sight of most peers, so an isolated node stops
# accepting writes. It needs at least three peers to mean anything.
SERVER_QUORUM = ("cluster.server-quorum-type", "server")


def volume_options(servers: int, overrides: dict[str, str]) -> dict[str, str]:
    options = {name: value for name, (value, _why) in PROFILE.items()}
    if servers >= 3:
        options[SERVER_QUORUM[0]] = SERVER_QUORUM[1]
    options.update(overrides)
    return options
