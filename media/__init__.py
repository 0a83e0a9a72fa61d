"""Synthetic media sources, sinks, analysers and statistics.

Sources: `video` (synthetic with `timecode`, still image, black), `audio` (timing marks,
speech-like, silence), `player` (looping file playback), `fanout` (encode once, send many),
`capture` (the frames a sender sent lately, as images: what a snapshot shows).
Receiving: `passthrough` (receivers that do not decode), `reader` (one track into many
sinks), `sinks` (counting, sampled decoding, callbacks), `recorder` (files), `monitor`
(per-stream quality). Figures: `analysis` (pure computations), `stats` (aiortc getStats).
`loopback` joins two local peer connections for tests and benchmarks.
"""
