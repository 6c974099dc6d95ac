"""What is kept on disk between runs: checkpoints with their metadata (checkpoint) and the
files the app ships (resources)."""
