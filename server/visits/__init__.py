"""签到 and 走访: check-ins and visits with GPS, photos, topics and concerns."""
