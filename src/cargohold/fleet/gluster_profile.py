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
    # Caching is chosen by what keeps every web node reading exactly what was acknowledged, measured
    # through the mounts (bench/truth, bench/smallfile; docs/storage.md has the figures).
    "features.cache-invalidation": (
        "on",
        "bricks notify clients of changes (upcalls): quick-read drops a file's cached bytes when another "
        "node changes it",
    ),
    "features.cache-invalidation-timeout": ("600", "how long bricks keep sending those notifications to a client"),
    "performance.cache-invalidation": (
        "off",
        "GlusterFS's default, set explicitly because an earlier profile turned it on: md-cache then takes "
        "file attributes from upcalls, and GlusterFS 10 also applies those of the arbiter brick, whose size "
        "is 0 (fixed upstream in 11, glusterfs#3255): reads returned 0 bytes around brick restarts "
        "(bench/truth --mode restart: 37 of 90,198 and 2 of 40,972 reads wrong with it on, 0 of 91,232 and "
        "0 of 40,432 off)",
    ),
    "performance.md-cache-timeout": (
        "1",
        "GlusterFS's default, set explicitly because an earlier profile used 600: files written in place "
        "during a brick hang or partition then read back as 0 bytes for up to the timeout, while the bricks "
        "held them whole (bench/truth: 14,767 of 86,236 reads wrong with 600)",
    ),
    "performance.quick-read-cache-invalidation": (
        "on",
        "quick-read (on by default) keeps small files' bytes in the client; with this an upcall drops them "
        "at once. (With performance.cache-invalidation on and this off, a rewrite on another node was "
        "never seen: quick-read then ignores its 1 s timeout.)",
    ),
    "network.inode-lru-limit": ("200000", "keep many inodes cached: a Drupal files/ tree has many small files"),
    "performance.nl-cache": (
        "off",
        "GlusterFS's default, set explicitly because an earlier profile turned it on: a file moved in from "
        "another directory (rename across directories: a restore, Drupal's file_move) under a name another "
        "node had looked up as missing was never seen by that node (20 s and more; the negative entry lives "
        "for nl-cache-timeout, 600 s then): GlusterFS 10 sends no invalidation to the destination "
        "(bench/consistency row 'move in from another directory')",
    ),
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
