"""The Recorder API (seed 004) of the local platform: real recordings of conference streams."""
