"""Offline sync: the outbox protocol (batch sync, photo upload, versioned writes), service worker, manifest."""
