"""Shared by the load tests: a small scenario of two calls (one per arrival, so two shards
get one call each), tiny video so it stays cheap on a shared machine."""

SCENARIO = """
name: two-calls
seed: 7
duration: 8s
phases:
  - name: arrive
    duration: 2s
    arrival_count: 2
  - name: talk
    duration: 6s
    arrival_count: 0
participants:
  - name: agent
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: 15
        bitrate: 150k
    view: all
  - name: peer
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: 15
        bitrate: 150k
    view: all
expect:
  conditions:
    - every_participant_joined
    - every_viewer_received_every_publisher
"""
