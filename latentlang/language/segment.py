"""Words of a tokenized text, and a bilingual dictionary to look them up in.

A text's tokens are split into words the way its script writes them. In scripts with spaces, a
word is a run of tokens holding letters: it starts at a token that begins with a space (the
tokenizer's word start) or follows a token without letters, and ends before the next such
token. Runs of Han and kana characters have no spaces: there the dictionary's zh/ja entries are
matched longest first, and characters no entry covers are words of one character. A word is kept
only where it starts at a token boundary, so the position before its first token is the one that
predicts it.

The dictionary maps ``(lang, word)`` to the concept's English word(s): from a word list (the
shipped one, a Wendler or Dumas folder, whose synonyms all count) or a CSV of
``word, lang, en`` rows.
"""

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.language.langid import SCRIPT_LANGUAGES, text_language
from latentlang.language.words import WordList

#: Scripts written without spaces between words.
UNSPACED = ("CJK", "HIRAGANA", "KATAKANA")


@dataclass(frozen=True)
class Word:
    """A word of a text.

    Attributes:
        text: The word as written.
        start: The index of its first token.
        end: One past the index of its last token.
        lang: Its language (the dictionary's where it holds the word, else by script and LID).
    """

    text: str
    start: int
    end: int
    lang: str


#: Noun and adjective case endings, longest first, of the languages whose inflected forms
#: :meth:`Dictionary.english` finds by stem (the lemma less a final vowel, ``ь`` or ``й``).
CASE_ENDINGS = {
    "ru": (
        "ами",
        "ями",
        "ого",
        "его",
        "ому",
        "ему",
        "ыми",
        "ими",
        "ой",
        "ей",
        "ом",
        "ем",
        "ам",
        "ям",
        "ах",
        "ях",
        "ую",
        "юю",
        "ов",
        "ев",
        "а",
        "я",
        "у",
        "ю",
        "е",
        "и",
        "ы",
        "о",
        "ь",
        "й",
        "",
    )
}


def _stem(lemma: str) -> str:
    return lemma[:-1] if lemma[-1:] in "аяоеьйыиу" else lemma


@dataclass(frozen=True)
class Dictionary:
    """Words of many languages and the English words of their concepts.

    Attributes:
        entries: ``(lang, casefolded word) -> English words`` of the concept.
        longest: The longest zh/ja entry, in characters (for matching runs without spaces).
    """

    entries: dict[tuple[str, str], tuple[str, ...]]
    longest: int
    _by_word: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _stems: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for lang, word in self.entries:
            self._by_word.setdefault(word, []).append(lang)
            if lang in CASE_ENDINGS and " " not in word and len(stem := _stem(word)) >= 3:
                self._stems[lang, stem] = tuple(
                    dict.fromkeys([*self._stems.get((lang, stem), ()), *self.entries[lang, word]])
                )

    @classmethod
    def from_word_list(cls, words: WordList) -> "Dictionary":
        """Every word of every language in a word list (every synonym too)."""
        entries: dict[tuple[str, str], tuple[str, ...]] = {}
        for row in words.table.to_dict("records"):
            concept = row["en"]
            for lang, word in row.items():
                if not isinstance(word, str) or not word.strip():
                    continue
                for synonym in words.accepted(concept, lang, word):
                    key = (lang, synonym.strip().casefold())
                    entries[key] = tuple(dict.fromkeys([*entries.get(key, ()), concept]))
        return cls._built(entries)

    @classmethod
    def from_csv(cls, path: str | Path) -> tuple["Dictionary", int]:
        """A CSV of ``word, lang, en`` rows; returns it and how many rows were skipped (a field
        empty).

        Raises:
            LatentLangError: The file lacks one of the three columns.
        """
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        missing = {"word", "lang", "en"} - set(frame.columns)
        if missing:
            raise LatentLangError(
                f"{path} needs columns word, lang, en; it lacks {', '.join(sorted(missing))}"
            )
        entries: dict[tuple[str, str], tuple[str, ...]] = {}
        skipped = 0
        for row in frame.to_dict("records"):
            word, lang, en = (row[c].strip() for c in ("word", "lang", "en"))
            if not (word and lang and en):
                skipped += 1
                continue
            key = (lang, word.casefold())
            entries[key] = tuple(dict.fromkeys([*entries.get(key, ()), en]))
        return cls._built(entries), skipped

    @classmethod
    def _built(cls, entries: dict) -> "Dictionary":
        unspaced = [len(word) for (lang, word) in entries if lang in ("zh", "ja")]
        return cls(entries, max(unspaced, default=1))

    def english(self, word: str, lang: str) -> tuple[str, ...]:
        """The English words of ``word``'s concept in ``lang`` (empty when it is not listed).

        In a language that inflects by case endings (:data:`CASE_ENDINGS`: Russian), a form not
        listed is looked up by its stem: ``собаку`` is ``собака`` less ``а`` plus ``у``."""
        word = word.casefold()
        found = self.entries.get((lang, word), ())
        if found or lang not in CASE_ENDINGS:
            return found
        for ending in CASE_ENDINGS[lang]:
            if word.endswith(ending) and len(stem := word[: len(word) - len(ending)]) >= 3:
                if (lang, stem) in self._stems:
                    return self._stems[lang, stem]
        return ()

    def languages_of(self, word: str) -> list[str]:
        """The languages whose entries hold ``word``."""
        return self._by_word.get(word.casefold(), [])

    def holds(self, word: str, langs: tuple[str, ...] = ("zh", "ja")) -> str | None:
        """The first of ``langs`` whose entries hold ``word``, else ``None``."""
        return next((lang for lang in langs if (lang, word.casefold()) in self.entries), None)


def split_words(
    tokens: list[str], dictionary: Dictionary | None = None, lang: str | None = None
) -> list[Word]:
    """The words of a text given as its tokens' texts (each token decoded alone).

    Args:
        tokens: The tokens' texts, in order (a word start keeps its leading space).
        dictionary: For runs without spaces (zh/ja) and for each word's language.
        lang: The text's language, if known: a word the dictionary does not hold in another
            language, and whose script allows ``lang``, is taken to be in ``lang``.
    """
    chars, owner = [], []  # the text's characters and the token each comes from
    for index, token in enumerate(tokens):
        chars += list(token)
        owner += [index] * len(token)
    first = {}  # token -> the index of its first character
    for i, token_index in enumerate(owner):
        first.setdefault(token_index, i)
    words, i = [], 0
    while i < len(chars):
        if not _is_letter(chars[i]):
            i += 1
            continue
        if _unspaced(chars[i]):
            j = i
            while j < len(chars) and _is_letter(chars[j]) and _unspaced(chars[j]):
                j += 1
            spans = _match_unspaced("".join(chars[i:j]), dictionary)
            words += [(i + a, i + b) for a, b in spans]
        else:
            j = i
            while j < len(chars) and _is_letter(chars[j]) and not _unspaced(chars[j]):
                j += 1
            words.append((i, j))
        i = j
    found = []
    for a, b in words:
        if any(_is_letter(ch) for ch in chars[first[owner[a]] : a]):
            continue  # starts inside a token after other letters: no position predicts it alone
        text = "".join(chars[a:b])
        found.append(Word(text, owner[a], owner[b - 1] + 1, _language(text, dictionary, lang)))
    return found


def _match_unspaced(run: str, dictionary: Dictionary | None) -> list[tuple[int, int]]:
    """Spans of a run of Han/kana characters: longest dictionary entries first, else one character."""
    spans, i = [], 0
    longest = dictionary.longest if dictionary else 1
    while i < len(run):
        size = next(
            (
                n
                for n in range(min(longest, len(run) - i), 1, -1)
                if dictionary and dictionary.holds(run[i : i + n])
            ),
            1,
        )
        spans.append((i, i + size))
        i += size
    return spans


def _language(text: str, dictionary: Dictionary | None, lang: str | None) -> str:
    """The word's language: the text's (``lang``) where the dictionary lists the word in it, or
    lists it in no other language and the word's script writes ``lang``; else the one other
    language the dictionary lists it in; else by script and LID."""
    listed = [] if dictionary is None else dictionary.languages_of(text)
    if lang and (lang in listed or (not listed and lang in _script_languages(text))):
        return lang
    return listed[0] if len(listed) == 1 else text_language(text)


def _script_languages(text: str) -> tuple[str, ...]:
    scripts = {unicodedata.name(ch, "UNKNOWN").split()[0] for ch in text if _is_letter(ch)}
    return tuple(lang for script in scripts for lang in SCRIPT_LANGUAGES.get(script, ()))


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith(("L", "M"))


def _unspaced(ch: str) -> bool:
    return unicodedata.name(ch, "UNKNOWN").split()[0] in UNSPACED
