"""Runtime drivers (docker, swarm) and what they share: clients of the Docker engines."""
