"""Audio signal processing shared by the audio and compose services (loudness, mixing,
time-stretch, rhythm front-end): pure numpy/scipy on float32 (channels, n) arrays."""
