"""`samples.csv`: every sample of every stream, one row each, for a spreadsheet or pandas
(hundreds of participants do not fit a plot; their numbers fit a table)."""

from __future__ import annotations

import csv
import io

from agent.scenario.results import RunResult, Sample

__all__ = ["SERIES", "render_samples_csv"]

SERIES = ("fps", "delay", "bitrate", "jitter", "audio_level", "av_sync")
"""The sampled series of a stream, in the units of the JSON report (fps, s, bit/s, s, dBFS,
s)."""

HEADER = (
    "participant",
    "group",
    "conference",
    "direction",
    "stream_id",
    "stream_type",
    "publisher",
    "series",
    "t",
    "value",
)


def render_samples_csv(result: RunResult) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for participant in result.participants:
        for stream in participant.streams:
            for series in SERIES:
                samples: list[Sample] = getattr(stream, series)
                for sample in samples:
                    writer.writerow(
                        (
                            participant.name,
                            participant.group,
                            participant.conference or "",
                            str(stream.direction),
                            stream.stream_id,
                            stream.stream_type,
                            stream.publisher or "",
                            series,
                            f"{sample.t:.3f}",
                            f"{sample.value:.6g}",
                        )
                    )
    return out.getvalue()
