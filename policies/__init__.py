"""Example policies; shipped inside the wheel as the data package failsync.examples (for `failsync demo`)."""
