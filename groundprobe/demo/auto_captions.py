"""The WebVTT text of the demo's caption files, in the format of YouTube's automatic captions:
rolling two-line cues with per-word times, and ``[Music]`` cues for a video without speech.
"""

from __future__ import annotations

# YouTube automatic captions: a line holds about this many characters; a longer pause clears it.
CAPTION_LINE_CHARS = 40
CAPTION_CLEAR_PAUSE_S = 3.0
FROZEN_CUE_MS = 10
MUSIC_CUE_S = 30.0


def _timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _cue(start_ms: int, end_ms: int, first_line: str, second_line: str) -> str:
    return f"{_timestamp(start_ms)} --> {_timestamp(end_ms)} align:start position:0%\n{first_line}\n{second_line}\n"


VTT_HEADER = "WEBVTT\nKind: captions\nLanguage: en\n"


TimedWordMs = tuple[str, int, int]  # token, start_ms, end_ms


def _caption_lines(words_ms: list[TimedWordMs]) -> list[tuple[list[TimedWordMs], bool]]:
    """Words grouped into caption lines; each line says whether a long pause cleared the screen."""
    lines: list[tuple[list[TimedWordMs], bool]] = []
    previous_end = None
    for word in words_ms:
        paused = previous_end is None or word[1] - previous_end > CAPTION_CLEAR_PAUSE_S * 1000
        if lines and not paused:
            text = " ".join(w[0] for w in lines[-1][0]) + " " + word[0]
            if len(text) <= CAPTION_LINE_CHARS:
                lines[-1][0].append(word)
                previous_end = word[2]
                continue
        lines.append(([word], paused))
        previous_end = word[2]
    return lines


def auto_caption_vtt(words: list[tuple[str, float, float]]) -> str:
    """WebVTT text in the format of YouTube's automatic captions for timed ``words``.

    ``words``: (token, start_s, end_s) sorted by start, starts at least 20 ms apart (times are
    written in whole milliseconds). Each caption line becomes a rolling cue: the previous line on
    top (blank after a long pause), the new line below with a ``<hh:mm:ss.mmm><c> word</c>`` tag
    before every word but its first, which starts at the cue start. A 10 ms cue repeating the
    completed line follows, ending where the next line starts. Raises ValueError on bad input.
    """
    words_ms = [(token, round(start * 1000), round(end * 1000)) for token, start, end in words]
    for i, (token, start, end) in enumerate(words_ms):
        if not token or any(ch.isspace() or ch in "<>&" for ch in token):
            raise ValueError(f"word {i} {token!r}: a token must be non-empty, without spaces or <>&")
        if start < 0 or end <= start:
            raise ValueError(f"word {i} {token!r}: needs 0 <= start < end, got {start} ms, {end} ms")
        if i and start - words_ms[i - 1][1] < 2 * FROZEN_CUE_MS:
            raise ValueError(
                f"word {i} {token!r} starts less than {2 * FROZEN_CUE_MS} ms after "
                "the previous word; captions cannot keep their order"
            )
    lines = _caption_lines(words_ms)
    cues = []
    for k, (line, cleared) in enumerate(lines):
        above = " " if cleared else " ".join(w[0] for w in lines[k - 1][0])
        tagged = line[0][0] + "".join(f"<{_timestamp(s)}><c> {t}</c>" for t, s, _ in line[1:])
        if k + 1 < len(lines):
            next_start = lines[k + 1][0][0][1]
            cues.append(_cue(line[0][1], next_start - FROZEN_CUE_MS, above, tagged))
            kept = " " if lines[k + 1][1] else " ".join(w[0] for w in line)
            cues.append(_cue(next_start - FROZEN_CUE_MS, next_start, kept, " "))
        else:
            cues.append(_cue(line[0][1], line[-1][2], above, tagged))
    return "\n".join([VTT_HEADER] + cues)


def music_only_vtt(duration_s: float) -> str:
    """Automatic captions of a video without speech: ``[Music]`` cues, as YouTube marks music."""
    total_ms = round(duration_s * 1000)
    bounds = list(range(0, total_ms, round(MUSIC_CUE_S * 1000))) + [total_ms]
    cues = []
    for k, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
        last = k + 2 == len(bounds)
        cues.append(_cue(start, end if last else end - FROZEN_CUE_MS, " ", "[Music]"))
        if not last:
            cues.append(_cue(end - FROZEN_CUE_MS, end, " ", " "))
    return "\n".join([VTT_HEADER] + cues)
