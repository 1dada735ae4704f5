"""民情台账: concerns raised by residents and their lifecycle."""
