"""Demo data for 崇阳县 (``seed_demo``), used by ``make run`` and the README."""
