"""`auvious-agent endpoint FILE`: one long-lived endpoint (a kiosk, a robot) as a service.

Built on the one participant core (`agent.participant.Participant`, which resumes by itself):
this package reads the endpoint's file, decides which conference it should be in (the file's,
the ticket's, or the last invitation's), answers snapshot and camera requests through
`agent.snapshot.SnapshotTarget`, and reports its state to `/readyz`, Prometheus and systemd.
"""
