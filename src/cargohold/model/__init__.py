"""The vocabulary shared by the planners, apply, status and the drivers: Desired (spec), Observed
(observed), Action and Plan (actions). Plain frozen data; this package imports nothing effectful."""

from cargohold.model.actions import *  # noqa: F403
from cargohold.model.backup import *  # noqa: F403
from cargohold.model.logs import *  # noqa: F403
from cargohold.model.observed import *  # noqa: F403
from cargohold.model.spec import *  # noqa: F403
