"""The Composition API (`/composition/api`, seed 003): a conversation's recordings rendered
into one MP4 (a grid of the video tracks with the mixed audio) or one MP3 (the mix).

`routes` serves the API, `service` queues and runs requests, `render` is the child process
that decodes and encodes (so media routing never waits for it), `job` what it renders;
the grid math is `media.layout`, shared with the content checks.
"""
