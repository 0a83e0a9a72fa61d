"""The media router: forwards each published stream's RTP to its viewers without decoding."""
