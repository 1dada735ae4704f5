"""Campaigns, coverage rules and the three full coverages (三个全覆盖); maps."""
