"""From a validated spec to files on disk: data scan, graph, resolve, render, plan, apply."""
