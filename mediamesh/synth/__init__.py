"""Media the repository renders itself, with exact ground truth, for demos and evaluation."""
