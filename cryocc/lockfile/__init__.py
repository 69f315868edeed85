"""The lockfile: what was applied, with the fingerprints that decide what may be kept."""
