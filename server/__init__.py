"""Minqing (民情通): field visits, the people's ledger and coverage supervision."""

__version__ = "0.1.0"
