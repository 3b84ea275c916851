"""Prompt builders. Each returns a :class:`PromptSet`: the prompts (the text, and the words whose
probability the lens should read at the prompt's last token) and the concepts left out on the way,
with why. The formats are the published ones (Wendler et al., 2024); each line names its language
in that language.

Translation::

    Français: "fleur" - 中文: "花"
    Français: "montagne" - 中文: "山"
    Français: "chien" - 中文: "

Repetition (the same word, same language)::

    Deutsch: "Blume" - Deutsch: "Blume"
    Deutsch: "Hund" - Deutsch: "

Cloze (sentences describing a word with the word masked; two demonstrations by default)::

    Une "___" est souvent offerte en cadeau. Réponse : "fleur".
    Un "___" est un animal qui aboie. Réponse : "

In every task the next token should begin the answer; the lens asks, layer by layer, how much of
the decoded distribution is on the concept's word in each measured language. Which rows are used
and how demonstrations are drawn follow the run's protocol (:mod:`latentlang.studies.protocols`).
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

import pandas as pd

from latentlang.errors import LatentLangError
from latentlang.language.codes import LANGUAGE_NAMES, check_language
from latentlang.language.words import Dropped, WordList, as_cloze_table
from latentlang.studies.protocols import get_protocol
from latentlang.studies.sampling import draw_demonstrations, filter_rows, missing_rows


@dataclass(frozen=True)
class TaskPrompt:
    """One prompt of a task.

    Attributes:
        text: The prompt; the lens reads its last token.
        concept: The concept's English word (the word list's key).
        answers: Language -> the word for the concept in that language, whose token set the lens
            measures.
        accepted: Language -> every accepted word (synonyms) where there are several; the token set
            is then the union over them. A language not listed accepts its answer alone.
        position: The prompt's place in the protocol's order (the published ``dataset.csv``'s).
    """

    text: str
    concept: str
    answers: dict[str, str]
    accepted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    position: int = 0

    def words(self, lang: str) -> tuple[str, ...]:
        """Every word accepted for this concept in ``lang``."""
        return self.accepted.get(lang, (self.answers[lang],))


@dataclass(frozen=True)
class PromptSet:
    """A task's prompts and the concepts left out before any prompt was built.

    Attributes:
        prompts: One per concept, in the protocol's order.
        dropped: Rows and concepts left out, with why (malformed rows, no word in a language, the
            substring and token-count filters).
    """

    prompts: list[TaskPrompt]
    dropped: list[Dropped] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.prompts)

    def __iter__(self) -> Iterator[TaskPrompt]:
        return iter(self.prompts)

    def __getitem__(self, index):
        return self.prompts[index]


def translation_line(src: str, src_word: str, tgt: str, tgt_word: str = "") -> str:
    """One line of the translation task; with ``tgt_word=""`` it ends at the open quote."""
    line = f'{LANGUAGE_NAMES[src]}: "{src_word}" - {LANGUAGE_NAMES[tgt]}: "'
    return line + (f'{tgt_word}"\n' if tgt_word else "")


def translation_prompts(
    words: WordList,
    src: str,
    tgt: str,
    languages: list[str] | None = None,
    n_shots: int = 4,
    seed: int | None = None,
    shared_demos: bool = False,
    protocol: str = "latentlang",
    vocab=None,
    tokens: str = "all",
) -> PromptSet:
    """Few-shot translation prompts from ``src`` to ``tgt``, one per concept.

    Args:
        words: The word list.
        src: Source language code.
        tgt: Target language code (must differ from ``src``).
        languages: Languages whose word is measured (default: en, src, tgt).
        n_shots: Demonstrations per prompt: other concepts, drawn per prompt with ``seed``.
        seed: Seed for drawing demonstrations (default: the protocol's).
        shared_demos: Give every prompt the same demonstrations (see
            :func:`latentlang.studies.sampling.draw_demonstrations`).
        protocol: ``"latentlang"`` or ``"wendler2024"`` (which rows, which sampler, which filters).
        vocab: The model's :class:`~latentlang.language.tokens.VocabIndex`, needed for ``tokens``.
        tokens: ``"all"``, or only concepts whose target word is a ``"single"`` vocabulary token
            (or ``"multi"``: is not).

    Raises:
        LatentLangError: ``src == tgt``, a language is unknown or absent from the list, or the list
            has too few concepts for ``n_shots`` demonstrations.
    """
    if src == tgt:
        raise LatentLangError(
            f"translation needs two different languages, got {src} and {tgt} "
            "(the repetition task repeats a word in one language)"
        )
    return _word_prompts(words, src, tgt, languages, n_shots, seed, shared_demos, protocol, vocab, tokens)


def repetition_prompts(
    words: WordList,
    lang: str,
    languages: list[str] | None = None,
    n_shots: int = 4,
    seed: int | None = None,
    shared_demos: bool = False,
    protocol: str = "latentlang",
    vocab=None,
    tokens: str = "all",
) -> PromptSet:
    """Few-shot prompts that repeat each word of ``lang`` (see :func:`translation_prompts`)."""
    return _word_prompts(words, lang, lang, languages, n_shots, seed, shared_demos, protocol, vocab, tokens)


def _word_prompts(
    words, src, tgt, languages, n_shots, seed, shared, protocol_name, vocab, tokens
) -> PromptSet:
    protocol = get_protocol(protocol_name)
    check_language(src)
    check_language(tgt)
    languages = languages or list(dict.fromkeys(["en", src, tgt]))
    needed = list(dict.fromkeys([*languages, src, tgt]))
    if protocol.sampler == "wendler2024":
        rows = words.paper_rows(src, tgt, [lang for lang in needed if lang not in ("en", src, tgt)])
    else:
        rows = words.rows_with(needed).reset_index(drop=True)
    # English is the key; its own file counts only where the notebooks merge it (as source or target).
    wendler_en = protocol.sampler == "wendler2024" and "en" in (src, tgt)
    explain = [lang for lang in needed if lang != "en" or wendler_en]
    dropped = [*words.skipped, *missing_rows(words, rows, explain)]
    substring = protocol.substring_filter and tgt != "en"
    rows, more = filter_rows(rows, tgt, vocab, tokens, substring)
    prompts = _few_shot(
        rows,
        languages,
        n_shots,
        protocol.seed if seed is None else seed,
        demo=lambda row: translation_line(src, row[src], tgt, row[tgt]),
        query=lambda row: translation_line(src, row[src], tgt),
        shared=shared,
        sampler=protocol.sampler,
        words=words,
    )
    return PromptSet(prompts, dropped + more)


def cloze_prompts(
    sentences: pd.DataFrame,
    words: WordList,
    lang: str,
    languages: list[str] | None = None,
    n_shots: int = 2,
    seed: int | None = None,
    shared_demos: bool = False,
    protocol: str = "latentlang",
    vocab=None,
    tokens: str = "all",
) -> PromptSet:
    """Few-shot cloze prompts in ``lang``: demonstrations are whole sentences with their answer;
    the query sentence stops where the answer begins.

    Rows that cannot be used (no blank, no answer, a missing cell) are skipped and recorded.

    Args:
        sentences: Cloze sentences (``en, lang, sentence, answer, problem``), see
            :func:`latentlang.language.datasets.load_cloze`.
        words: The word list, for the concept's word in the other measured languages.
        lang: The language of the sentences.
        languages: Languages whose word is measured (default: en, lang).
        n_shots: Demonstrations per prompt.
        seed: Seed for drawing demonstrations (default: the protocol's).
        shared_demos: Give every prompt the same demonstrations.
        protocol: ``"latentlang"`` or ``"wendler2024"`` (see :mod:`latentlang.studies.protocols`).
        vocab: The model's vocabulary, needed for ``tokens``.
        tokens: ``"all"``, ``"single"`` or ``"multi"`` (see :func:`translation_prompts`).

    Raises:
        LatentLangError: No usable sentence in ``lang``.
    """
    protocol = get_protocol(protocol)
    languages = languages or list(dict.fromkeys(["en", lang]))
    sentences = as_cloze_table(sentences)
    mine = sentences[sentences["lang"] == lang]
    if mine.empty:
        have = ", ".join(sorted(sentences["lang"].unique()))
        raise LatentLangError(f"there are no cloze sentences in {lang!r}; the cloze data has: {have}")
    rows, dropped = _usable_cloze_rows(mine, lang, protocol.cloze_query)
    others = [x for x in languages if x not in ("en", lang)]
    if others:
        table = words.rows_with(["en", *others])[["en", *others]]
        dropped += missing_rows(words, rows.merge(table, on="en"), ["en", *others], keys=rows["en"])
        rows = rows.merge(table, on="en", how="inner")
    if rows.empty:
        raise LatentLangError(f"no usable {lang} cloze sentence (with words in {', '.join(languages)})")
    rows, more = filter_rows(rows.reset_index(drop=True), lang, vocab, tokens, substring=False)
    prompts = _few_shot(
        rows,
        languages,
        n_shots,
        protocol.seed if seed is None else seed,
        demo=lambda row: row["sentence"] + "\n",
        query=lambda row: row["query"],
        shared=shared_demos,
        sampler=protocol.sampler,
        words=words,
    )
    return PromptSet(prompts, dropped + more)


def _usable_cloze_rows(mine: pd.DataFrame, lang: str, rule: str) -> tuple[pd.DataFrame, list[Dropped]]:
    """The rows with a blank, an answer and a place to cut the query (``lang`` holds the answer,
    ``query`` the query); the others recorded."""
    keep, dropped, answers, queries = [], [], [], []
    for row in mine.to_dict("records"):
        answer = row["answer"] if isinstance(row["answer"], str) else cloze_answer(row["sentence"])
        query = _cloze_query(row["sentence"], answer, lang, rule) if answer else None
        problem = row["problem"] or (
            (not answer and f"no quoted answer in {row['sentence']!r}")
            or (query is None and f"no answer marker (:) in {row['sentence']!r}")
        )
        keep.append(not problem)
        if problem:
            dropped.append(Dropped(str(row["en"]), "malformed row", problem))
        answers.append(answer)
        queries.append(query)
    rows = mine.assign(**{lang: answers, "query": queries})[keep]
    return rows, dropped


def cloze_answer(sentence: str) -> str:
    """The answer of a cloze sentence: the text between its last pair of double quotes ("" if
    there is none, or it is the blank)."""
    parts = sentence.rsplit('"', 2)
    if len(parts) != 3 or not parts[1].strip() or set(parts[1]) == {"_"}:
        return ""
    return parts[1]


def _cloze_query(sentence: str, answer: str, lang: str, rule: str) -> str | None:
    """Where the query stops (``None`` if the rule finds no place).

    ``"first_colon"`` (the notebooks): the text before the first ``:`` (``：`` for zh) and
    ``: "``. ``"answer"`` (latentlang): up to and including the quoted answer's opening quote, or,
    if the sentence does not quote its answer, through the last answer marker and ``"``.
    """
    if rule == "first_colon":
        return sentence.split("：" if lang == "zh" else ":")[0] + ': "'
    quoted = sentence.rfind(f'"{answer}"')
    if quoted >= 0:
        return sentence[: quoted + 1]
    marker = max(sentence.rfind(":"), sentence.rfind("："))
    if marker < 0:
        return None
    return sentence[: marker + 1] + (' "' if sentence[marker] == ":" else '"')


def _few_shot(rows, languages, n_shots, seed, demo, query, shared, sampler, words) -> list[TaskPrompt]:
    """One prompt per row: ``n_shots`` demonstrations drawn from the other rows, then the query."""
    if n_shots < 0:
        raise LatentLangError(f"n_shots must be >= 0, got {n_shots}")
    if len(rows) <= n_shots:
        raise LatentLangError(
            f"only {len(rows)} concepts have words in all of {', '.join(languages)}: too few for "
            f"{n_shots} demonstrations plus a query; add words or lower n_shots"
        )
    records = rows.to_dict("records")
    prompts = []
    for i, picks in draw_demonstrations(len(records), n_shots, seed, sampler, shared):
        row = records[i]
        text = "".join(demo(records[j]) for j in picks)
        answers = {lang: row[lang] for lang in languages}
        accepted = {lang: words.accepted(row["en"], lang, row[lang]) for lang in languages}
        accepted = {lang: many for lang, many in accepted.items() if len(many) > 1}
        prompts.append(TaskPrompt(text + query(row), row["en"], answers, accepted, position=len(prompts)))
    return prompts
