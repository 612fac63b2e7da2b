"""Spoken English number words to digits ("two thousand" -> "2000", "forty two" -> "42"), and back for the LM."""

_UNITS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen".split()
_UNITS += "seventeen eighteen nineteen".split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
SMALL: dict[str, int] = {word: value for value, word in enumerate(_UNITS)}
SMALL |= {word: 20 + 10 * index for index, word in enumerate(_TENS)}
SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
NUMBER_WORDS = frozenset(SMALL) | frozenset(SCALES) | {"a", "and"}


def _parse_run(words: list[str]) -> int | None:
    """Value of a run of number words, or None when it is not a number ("a" alone, "and" alone)."""
    total = current = 0
    seen = False
    for word in words:
        if word in SMALL:
            current += SMALL[word]
            seen = True
        elif word == "a":
            current += 1
        elif word == "hundred":
            current = max(current, 1) * 100
            seen = True
        elif word in SCALES:
            total += max(current, 1) * SCALES[word]
            current = 0
            seen = True
    return total + current if seen else None


def _can_extend(run: list[str], word: str) -> bool:
    """Whether `word` continues the number in `run` ("fifty two" yes, "two fifty" no, "a" only before a scale)."""
    if word in SCALES or word == "and":
        return bool(run)
    if word not in SMALL:
        return False
    if not run:
        return True
    last = run[-1]
    if last in SCALES or last == "and":
        return True
    return last in _TENS and SMALL[word] < 10 and SMALL[word] > 0


def words_to_numbers(text: str) -> str:
    """Replace each run of number words in lower-case `text` with its digits; other words are kept."""
    words = text.split()
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        tail = []
        while run and run[-1] == "and":
            tail.append(run.pop())
        value = _parse_run(run)
        out.extend(run if value is None else [str(value)])
        out.extend(tail)
        run.clear()

    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if (word == "a" and following in SCALES) or (_can_extend(run, word) and word != "a"):
            run.append(word)
        else:
            flush()
            if word in SMALL:
                run.append(word)
            else:
                out.append(word)
    flush()
    return " ".join(out)


def number_to_words(value: int) -> str:
    """Spoken form of 0..999_999 ("2500" -> "two thousand five hundred"), used to generate LM sentences."""
    if value < 20:
        return _UNITS[value]
    if value < 100:
        tens, unit = divmod(value, 10)
        return _TENS[tens - 2] + (f" {_UNITS[unit]}" if unit else "")
    if value < 1000:
        hundreds, rest = divmod(value, 100)
        return f"{_UNITS[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    thousands, rest = divmod(value, 1000)
    return f"{number_to_words(thousands)} thousand" + (f" {number_to_words(rest)}" if rest else "")
