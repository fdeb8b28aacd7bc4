"""bench/backup: cargohold's backups vs bare restic on the same directories of the GlusterFS lab.

10 sites, 20,000 small files (1-64 KiB) in all, written through web1's mount of cargohold's volume.
In one run, each side into a repository of its own (same restic, same password, same cache place),
a fresh pair each round, the order alternating (whoever reads second finds warmer caches):
- full backup: `cargohold backup` (whole process: one snapshot per site and area, then retention)
  vs bare `restic backup` of each of the same 20 directories; and vs bare backup + `forget --prune`;
- incremental after 1% of the files rewritten: the same pair again;
- restore of one site: `cargohold restore DOMAIN --area files --to DIR` vs bare `restic restore --verify`
  (3 rounds, alternating which goes first; medians);
- the restore drill (`cargohold backup verify`): seconds per site.

Run: scripts/setup && .venv/bin/python bench/backup.py [--files 20000] [--sites 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from glusterlab import BenchCluster  # noqa: E402

CLI = str(Path(sys.executable).parent / "cargohold")


def timed(argv: list[str], **kw: object) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cluster = BenchCluster()
    cluster.up()
    try:
        home = cluster.lab.home
        root = cluster.mount("prof", 1)
        password = home / "restic.pass"
        password.write_text("bench passphrase\n")
        password.chmod(0o600)
        domains = [f"site{i:02d}.example.com" for i in range(args.sites)]
        data = json.loads(cluster.lab.fleet_file.read_text().split("\n", 1)[1])
        data.update(fleet="bench", sites=[
            {"domain": d, "image": "cargohold-demo:1", "port": 30000 + 10 * i,
             "writable": {"/var/www/sites/default/files": "files"}, "logs": "/var/log/demo"}
            for i, d in enumerate(domains)])
        data["storage"]["volume"] = "prof"
        data["storage"]["servers"] = [{**s, "brick": s["brick"].replace("/web", "/prof")}
                                      for s in data["storage"]["servers"]]
        for node in data["nodes"]:
            node["storage_root"] = node["storage_root"].replace("/storage", "/prof")
        data.pop("frontdoor", None)
        for node in data["nodes"]:
            node.pop("frontdoor_http", None)
            node.pop("frontdoor_https", None)
        data["backup"] = {"repository": str(home / "repo-cargohold"), "password_file": str(password),
                          "cache_dir": str(home / "restic-cache"), "keep": {"daily": 7}}
        fleet = home / "bench-backup.yml"
        fleet.write_text(json.dumps(data))
        subprocess.run([CLI, "-f", str(fleet), "storage", "init"], check=True, timeout=60)
        areas = []
        rng = random.Random(7)
        print(f"writing {args.files} files through {root} ...", flush=True)
        start = time.perf_counter()
        for i, domain in enumerate(domains):
            for area in ("files", "logs"):
                (root / area / domain).mkdir(parents=True, exist_ok=True)
                areas.append(root / area / domain)
            per_site = args.files // args.sites
            for n in range(per_site):
                sub = root / "files" / domain / f"{n % 20:02d}"
                sub.mkdir(exist_ok=True)
                (sub / f"img-{n:05d}.png").write_bytes(os.urandom(rng.randint(1, 64) * 1024))
            (root / "logs" / domain / "access.log").write_bytes(os.urandom(256 * 1024))
            del i
        written = time.perf_counter() - start
        cache = str(home / "restic-cache")
        subprocess.run(["tar", "-C", str(root), "-cf", "/dev/null", "files", "logs"], check=True, timeout=3600)
        runs: dict[str, list[float]] = {k: [] for k in ("full_bare", "full_bare_forget", "full_cargohold",
                                                        "incr_bare", "incr_bare_forget", "incr_cargohold")}
        restic: list[str] = []
        for rnd in range(args.rounds):  # a fresh pair of repositories each round; the order alternates
            bare_repo = home / f"repo-bare-{rnd}"
            restic = ["restic", "--repo", str(bare_repo), "--password-file", str(password), "--cache-dir", cache]
            subprocess.run([*restic, "init"], check=True, capture_output=True, timeout=60)
            data["backup"]["repository"] = str(home / f"repo-cargohold-{rnd}")
            fleet.write_text(json.dumps(data))
            subprocess.run([CLI, "-f", str(fleet), "backup", "init"], check=True, capture_output=True, timeout=60)

            def bare(kind: str, restic: list[str] = restic) -> None:
                runs[f"{kind}_bare"].append(sum(
                    timed([*restic, "backup", "--host", "bench", "--tag", f"area={a.parent.name}", str(a)])
                    for a in areas))
                runs[f"{kind}_bare_forget"].append(
                    timed([*restic, "forget", "--group-by", "host,paths", "--keep-daily", "7", "--prune"]))

            def ours(kind: str) -> None:
                runs[f"{kind}_cargohold"].append(timed([CLI, "-f", str(fleet), "backup"]))

            first, second = (bare, ours) if rnd % 2 == 0 else (ours, bare)
            first("full")
            second("full")
            for p in rng.sample(sorted(p for p in (root / "files").rglob("*.png")), args.files // 100):
                p.write_bytes(os.urandom(rng.randint(1, 64) * 1024))
            second("incr")
            first("incr")
        figures: dict[str, float] = {k: statistics.median(v) for k, v in runs.items()}
        target = home / "restore-target"
        snaps = json.loads(subprocess.run([*restic, "snapshots", "--json", "--path", str(root / "files" / domains[0])],
                                          check=True, capture_output=True, timeout=60).stdout)
        restores: dict[str, list[float]] = {"cargohold": [], "bare": []}
        for rnd in range(3):  # alternating which goes first
            for side in (("cargohold", "bare") if rnd % 2 == 0 else ("bare", "cargohold")):
                shutil.rmtree(target, ignore_errors=True)
                if side == "cargohold":
                    restores[side].append(timed([CLI, "-f", str(fleet), "restore", domains[0], "--area", "files",
                                                 "--to", str(target / "cargohold")]))
                else:
                    restores[side].append(timed([*restic, "restore", snaps[-1]["id"], "--target",
                                                 str(target / "bare"), "--verify"]))
        figures["restore_cargohold"] = statistics.median(restores["cargohold"])
        figures["restore_bare"] = statistics.median(restores["bare"])
        figures["drill_all"] = timed([CLI, "-f", str(fleet), "backup", "verify"])
        result = {
            "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.platform()}",
            "files": args.files, "sites": args.sites, "write_s": round(written, 1),
            "rounds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
            **{k: round(v, 2) for k, v in figures.items()},
            "ratio_full": round(figures["full_cargohold"] / figures["full_bare"], 3),
            "ratio_full_with_retention": round(figures["full_cargohold"]
                                               / (figures["full_bare"] + figures["full_bare_forget"]), 3),
            "ratio_incr": round(figures["incr_cargohold"] / figures["incr_bare"], 3),
            "ratio_incr_with_retention": round(figures["incr_cargohold"]
                                               / (figures["incr_bare"] + figures["incr_bare_forget"]), 3),
            "ratio_restore": round(figures["restore_cargohold"] / figures["restore_bare"], 3),
            "drill_per_site_s": round(figures["drill_all"] / args.sites, 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        cluster.down()


if __name__ == "__main__":
    main()
