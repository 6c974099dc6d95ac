"""What the user reads: figures and the HTML report of a run (report) and the progress
lines printed on the terminal (console)."""
