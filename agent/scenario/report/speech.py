"""The report's speech section: what each transcribing participant heard, beside what the
speakers said, word errors marked (substituted, missed, added), and the transcript files."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from agent.scenario.metrics import understood
from agent.scenario.results import RunResult

__all__ = ["SPEECH_CSS", "render_speech"]

SPEECH_CSS = """
.said { color: #334155; }
.sub { background: #fef3c7; color: #92400e; }
.del { background: #fee2e2; color: #991b1b; text-decoration: line-through; }
.ins { background: #dbeafe; color: #1e40af; }
"""


def _marked(edits: Sequence[tuple[str, str, str]]) -> str:
    """The heard words with the errors marked: a substitution shows what was said too."""
    parts: list[str] = []
    for op, said, heard in edits:
        if op == "equal":
            parts.append(escape(heard))
        elif op == "substitute":
            parts.append(f'<span class="sub" title="said: {escape(said)}">{escape(heard)}</span>')
        elif op == "delete":
            parts.append(f'<span class="del" title="missed">{escape(said)}</span>')
        else:
            parts.append(f'<span class="ins" title="not said">{escape(heard)}</span>')
    return " ".join(parts)


def render_speech(result: RunResult) -> str | None:
    """The section's body, or None when nobody transcribed."""
    if not any(p.transcripts for p in result.participants):
        return None
    rows: list[str] = []
    for listener, transcript, scored in understood(result):
        edits = [(e.op, " ".join(e.said), " ".join(e.heard)) for e in scored.edits]
        rows.append(
            f'<tr><td class="num">{scored.start:.2f}s</td>'
            f"<td>{escape(transcript.publisher or '')} → {escape(listener.name)}</td>"
            f'<td class="said">{escape(scored.reference)}</td><td>{_marked(edits)}</td>'
            f'<td class="num">{scored.word_error_rate:.0%}</td></tr>'
        )
    parts: list[str] = []
    if rows:
        parts.append(
            "<table><thead><tr><th>said at</th><th>speaker → listener</th><th>said</th>"
            f"<th>heard</th><th>WER</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            '<p><span class="sub">substituted</span> <span class="del">missed</span> '
            '<span class="ins">added</span></p>'
        )
    for listener in result.participants:
        for transcript in listener.transcripts:
            lines = "".join(
                f'<tr><td class="num">{s.start:.2f}s</td><td class="num">{s.end:.2f}s</td>'
                f'<td class="num">{s.latency:.2f}s</td><td>{escape(s.text)}</td></tr>'
                for s in transcript.segments
            )
            who = transcript.publisher or transcript.stream_id
            files = ", ".join(escape(path) for path in transcript.files)
            lost = ""
            if transcript.dropped or transcript.failed:
                lost = f" ({transcript.dropped} dropped, {transcript.failed} failed)"
            parts.append(
                f"<h3>{escape(listener.name)} heard {escape(who)}{lost}</h3>"
                "<table><thead><tr><th>start</th><th>end</th><th>latency</th><th>text</th>"
                f"</tr></thead><tbody>{lines}</tbody></table><p>{files}</p>"
            )
    return "\n".join(parts)
