"""What every evaluation and benchmark shares."""
