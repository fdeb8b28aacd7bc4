"""The front door: HAProxy on each web node, routing domains to their sites' healthy instances."""
