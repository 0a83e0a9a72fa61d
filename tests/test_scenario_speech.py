"""The scenario side of speech: the language (`source: speech`, `say`, `transcribe`), its
errors, and the speech metrics and report section computed from a run's records."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.loader import ScenarioError, load_scenario, parse_scenario
from agent.scenario.metrics import METRICS, aggregate
from agent.scenario.report import write_reports
from agent.scenario.report.speech import render_speech
from agent.scenario.results import (
    HeardSegment,
    HeardWord,
    ParticipantResult,
    RunResult,
    SaidRecord,
    Span,
    TranscriptResult,
)
from agent.scenario.runner import RunOptions, ScenarioRun
from tests.speech_support import needs_espeak

ROOT = Path(__file__).resolve().parent.parent

SPEAKING = """
name: speech
duration: 10s
participants:
  - name: caller
    publish:
      - type: MIC
        source: speech
        speech: {lines: ["Hello there."], voice: en-us}
    timeline:
      - {do: join}
      - {do: publish}
      - {do: say, text: "Goodbye.", at: 5s}
  - name: bot
    transcribe: {engine: pocketsphinx}
"""


def test_speech_and_transcription_parse() -> None:
    scenario = parse_scenario(SPEAKING, "speech.yaml")
    caller, bot = scenario.participants
    assert caller.publish[0].speech is not None and caller.publish[0].speech.voice == "en-us"
    assert bot.transcribe is not None and bot.transcribe.workers == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("type: MIC\n        source: speech", "type: CAM\n        source: speech"), "has none"),
        (('{do: say, text: "Goodbye.", at: 5s}', '{do: say, text: "x", stream: cam}'), "cam"),
        (("{engine: pocketsphinx}", "{engine: vosk}"), "vosk needs `model`"),
        (('lines: ["Hello there."]', "file: missing.txt"), "no text file 'missing.txt'"),
        (("{engine: pocketsphinx}", "{engine: kaldi}"), "transcribe.engine: Input should be"),
    ],
)
def test_speech_mistakes_name_file_line_and_field(
    change: tuple[str, str], message: str, tmp_path: Path
) -> None:
    text = SPEAKING.replace(*change)
    assert text != SPEAKING
    with pytest.raises(ScenarioError) as error:
        parse_scenario(text, "speech.yaml", tmp_path)
    assert "speech.yaml:" in str(error.value) and message in str(error.value), str(error.value)


def heard(start: float, end: float, text: str, latency: float = 1.0) -> HeardSegment:
    words = text.split()
    step = (end - start) / len(words)
    return HeardSegment(
        start=start,
        end=end,
        text=text,
        latency=latency,
        words=[
            HeardWord(text=w, start=start + i * step, end=start + (i + 1) * step)
            for i, w in enumerate(words)
        ],
    )


def test_speech_metrics_and_report_from_the_records() -> None:
    caller = ParticipantResult(
        name="caller-0",
        group="caller",
        index=0,
        arrived_at=0.0,
        said=[
            SaidRecord(start=2.0, end=4.0, text="The quick brown fox.", stream_id="s1"),
            SaidRecord(start=8.0, end=9.0, text="Yes.", stream_id="s1"),
        ],
    )
    transcript = TranscriptResult(
        stream_id="s1",
        publisher="caller-0",
        segments=[heard(2.05, 4.05, "the quack brown fox jumps", 1.5), heard(8.05, 9.05, "yes")],
        spurts=[Span(start=2.05, end=4.05), Span(start=8.05, end=9.05)],
    )
    answers = TranscriptResult(
        stream_id="s2", publisher="agent-0", spurts=[Span(start=5.25, end=7.0)]
    )
    bot = ParticipantResult(
        name="bot-0", group="bot", index=0, arrived_at=0.0, transcripts=[transcript, answers]
    )
    result = RunResult(
        scenario="s", started_at=datetime.now(UTC), duration=10, participants=[caller, bot]
    )

    def values(name: str) -> list[float]:
        return [v.value for v in METRICS[name].extract(result, 0.0)]

    wer = list(METRICS["word_error_rate"].extract(result, 0.0))
    assert [v.value for v in wer] == [0.5, 0.0]
    assert aggregate(wer, "overall", METRICS["word_error_rate"].quantity) == pytest.approx(2 / 5)
    assert values("transcript_latency") == [1.5, 1.0]
    # s1 ends at 4.05, s2 answers at 5.25; s2 ends at 7.0, s1 answers at 8.05.
    assert values("response_latency") == pytest.approx([1.2, 1.05])
    html = render_speech(result)
    assert html is not None
    assert '<span class="sub" title="said: quick">quack</span>' in html
    assert '<span class="ins" title="not said">jumps</span>' in html
    assert "caller-0 → bot-0" in html
    assert render_speech(RunResult(scenario="s", started_at=datetime.now(UTC), duration=1)) is None


def written(files: list[str]) -> list[str]:
    """The suffixes of `files`, each of which must exist and hold something."""
    assert all(Path(f).stat().st_size > 0 for f in files), files
    return [Path(f).suffix for f in files]


@needs_espeak
@pytest.mark.slow
async def test_the_transcription_scenario_passes_with_transcripts_and_a_speech_report(
    tmp_path: Path,
) -> None:
    """scenarios/transcription.yaml as committed, on the embedded platform (its own client):
    a caller's lines and question, an agent's answer, a bot's transcripts and the checks."""
    scenario = load_scenario(ROOT / "scenarios" / "transcription.yaml")
    report = tmp_path / "report"
    run = ScenarioRun(scenario, RunOptions(quiet=True, report_dir=report))
    result = await run.execute()
    evaluation = evaluate(scenario, result)
    assert evaluation.passed, [e.message for e in evaluation.failures]
    caller, agent, bot = result.participants
    assert [u.text for u in caller.said][-1] == "Can you hear me?" and len(caller.said) == 4
    assert [u.text for u in agent.said] == ["Yes, loud and clear."]
    heard = {t.publisher: t for t in bot.transcripts}
    assert set(heard) == {"caller-0", "agent-0"}
    for transcript in heard.values():
        assert transcript.segments and written(transcript.files) == [".json", ".vtt"]
    write_reports(scenario, result, evaluation, report)
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "<h2>Speech</h2>" in html and "caller-0 → bot-0" in html
    assert run.leftover_peer_connections == 0
