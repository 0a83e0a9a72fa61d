"""Checks on what was understood: word error rate by utterance, with the alignment that shows
which words went wrong (computed by `jiwer`), and transcript latency.

A reference utterance is what a speaker said with the wall-clock times its voice started and
ended (`media.speech.Utterance`); the transcript's words are matched to it by time: a word
belongs to the utterance whose span (widened by `slack` seconds, for the network delay and
the recogniser's imprecision) holds the word's middle.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import jiwer


class Timed(Protocol):
    """A word with its span (`media.transcription.Word`, or a report's record of one)."""

    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


class Heard(Timed, Protocol):
    """A transcribed segment (`media.transcription.Segment`, or a report's record of one)."""

    @property
    def words(self) -> Sequence[Timed]: ...


@functools.cache
def _normal() -> jiwer.Compose:
    """Built on first use: `RemovePunctuation` scans every Unicode code point (half a CPU
    second), which a run that transcribes nothing should not pay when it writes its report."""
    return jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.RemovePunctuation(),  # type: ignore[no-untyped-call]
            jiwer.RemoveMultipleSpaces(),
            jiwer.Strip(),
        ]
    )


def normalize(text: str) -> str:
    """Lower case, no punctuation, single spaces: what the word error rate compares."""
    return str(_normal()(text))


@dataclass(frozen=True, slots=True)
class Reference:
    text: str
    start: float
    end: float


Op = Literal["equal", "substitute", "delete", "insert"]


@dataclass(frozen=True, slots=True)
class WordEdit:
    """One step of the alignment: `said` words against `heard` words."""

    op: Op
    said: tuple[str, ...]
    heard: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UtteranceScore:
    reference: str
    hypothesis: str
    start: float
    end: float
    words: int
    substitutions: int
    deletions: int
    insertions: int
    edits: tuple[WordEdit, ...]

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def word_error_rate(self) -> float:
        return self.errors / self.words if self.words else float(bool(self.insertions))

    def as_record(self) -> dict[str, object]:
        return {
            "reference": self.reference,
            "hypothesis": self.hypothesis,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "word_error_rate": round(self.word_error_rate, 4),
            "words": self.words,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "edits": [
                {"op": e.op, "said": " ".join(e.said), "heard": " ".join(e.heard)}
                for e in self.edits
            ],
        }


def score(reference: str, hypothesis: str, start: float = 0.0, end: float = 0.0) -> UtteranceScore:
    """The word error rate of `hypothesis` against `reference`, with its alignment."""
    said, heard = normalize(reference), normalize(hypothesis)
    if not said:
        raise ValueError("a reference utterance has no words")
    result = jiwer.process_words(said, heard)
    ref_words, hyp_words = said.split(), heard.split()
    edits = tuple(
        WordEdit(
            chunk.type,  # type: ignore[arg-type]
            tuple(ref_words[chunk.ref_start_idx : chunk.ref_end_idx]),
            tuple(hyp_words[chunk.hyp_start_idx : chunk.hyp_end_idx]),
        )
        for chunk in result.alignments[0]
    )
    return UtteranceScore(
        reference,
        hypothesis,
        start,
        end,
        len(ref_words),
        result.substitutions,
        result.deletions,
        result.insertions,
        edits,
    )


def heard_during(segments: Sequence[Heard], start: float, end: float, slack: float) -> str:
    """The transcribed words whose middle falls in [start - slack, end + slack]."""
    words: list[str] = []
    for segment in sorted(segments, key=lambda s: s.start):
        if segment.words:
            words += [
                w.text
                for w in segment.words
                if start - slack <= (w.start + w.end) / 2 <= end + slack
            ]
        elif start - slack <= (segment.start + segment.end) / 2 <= end + slack:
            words.append(segment.text)
    return " ".join(words)


def score_utterances(
    references: Sequence[Reference], segments: Sequence[Heard], slack: float = 0.6
) -> list[UtteranceScore]:
    """Score each reference utterance against the words heard during it."""
    return [
        score(ref.text, heard_during(segments, ref.start, ref.end, slack), ref.start, ref.end)
        for ref in references
    ]


def word_error_rate(scores: Sequence[UtteranceScore]) -> float | None:
    """Errors over reference words, over all utterances (None without utterances)."""
    words = sum(s.words for s in scores)
    return sum(s.errors for s in scores) / words if words else None


def highlighted(score: UtteranceScore) -> str:
    """The transcript with its errors marked: `[said→heard]`, `[-missed-]`, `[+extra+]`."""
    parts: list[str] = []
    for edit in score.edits:
        said, heard = " ".join(edit.said), " ".join(edit.heard)
        if edit.op == "equal":
            parts.append(heard)
        elif edit.op == "substitute":
            parts.append(f"[{said}→{heard}]")
        elif edit.op == "delete":
            parts.append(f"[-{said}-]")
        else:
            parts.append(f"[+{heard}+]")
    return " ".join(parts)
