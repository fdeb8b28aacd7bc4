"""The fleet file: schema, loading, and the Desired state derived from it."""

from cargohold.fleet.load import DEFAULT_FLEET_FILE, load_fleet, parse_fleet
from cargohold.fleet.schema import Fleet, Site

__all__ = ["DEFAULT_FLEET_FILE", "Fleet", "Site", "load_fleet", "parse_fleet"]
