"""工作日志 / 民情日记: a cadre's day, compiled from check-ins and visits, plus their own note."""
