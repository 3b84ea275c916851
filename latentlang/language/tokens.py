"""Token sets: which vocabulary tokens count as "the model is saying this word".

A model starting to write ``chien`` may emit ``▁chien``, ``chien``, ``ch`` or ``c``; starting ``狗`` it
may emit ``狗``, ``▁狗`` or, in a byte-fallback tokenizer, the byte ``<0xE7>``. The token set of a word
is every vocabulary token whose bytes, after removing one word-start marker (``▁`` in
SentencePiece vocabularies, ``Ġ``/space in byte-level BPE), are a non-empty prefix of the word's
UTF-8 bytes (Wendler et al., 2024). Tokens that are empty after the marker (the bare ``▁``),
whitespace or punctuation are never members: a naive "first token of ' 狗'" in Gemma's tokenizer
is the bare ``▁``, which would make Chinese absorb every space's probability.

Everything works on bytes, so byte-level BPE (GPT-2, Llama-3, Qwen) and SentencePiece with byte
fallback (Llama-2, Gemma, Mistral) are handled by the same code. A multi-word entry (``appareil
photo``) gets the tokens that can begin it, as Dumas et al. (2025) do with their synonym lists; a
concept with several accepted words (synonyms) gets the union of their sets.

Two rules, chosen by a run's protocol (:mod:`latentlang.studies.protocols`):

- ``"bytes"`` (latentlang): the byte-prefix rule above.
- ``"wendler2024"``: the published notebooks' rule: every character prefix of the word, with and
  without the word-start marker, looked up as a vocabulary string, plus, for a Chinese or Russian
  word, the byte token of the first UTF-8 byte of its first non-ASCII character (``<0xE8>`` for
  ``花``). In a byte-level vocabulary the same strings are looked up in its byte alphabet.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from latentlang.errors import LatentLangError

#: The token-set rules (see the module docstring).
RULES = ("bytes", "wendler2024")
#: Languages whose words also get their first byte's token under the ``wendler2024`` rule.
WENDLER_BYTE_LANGUAGES = ("zh", "ru")

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass(frozen=True)
class TokenSet:
    """The tokens that start ``word`` in one tokenizer.

    Attributes:
        word: The word (the first one, for a concept with synonyms).
        ids: Sorted vocabulary ids of every token that can begin it (any of its synonyms).
        first_id: The first token when the tokenizer encodes the word on its own (the "strict"
            first-token choice of some papers; always a member of ``ids`` when it is a prefix).
    """

    word: str
    ids: tuple[int, ...]
    first_id: int | None

    def __and__(self, other: "TokenSet") -> "TokenSet":
        """The tokens both sets hold (e.g. English tokens that also begin the source word)."""
        return TokenSet(self.word, tuple(sorted(set(self.ids) & set(other.ids))), self.first_id)


@lru_cache(maxsize=1)
def _byte_encoder() -> dict[int, str]:
    """GPT-2's byte-level alphabet: byte -> its printable stand-in character."""
    return {b: ch for ch, b in _byte_decoder().items()}


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet, reversed: printable stand-in character -> byte."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes, extra = list(printable), 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, codes)}


class VocabIndex:
    """A tokenizer's vocabulary as bytes, indexed for prefix lookups.

    Args:
        tokenizer: A Hugging Face tokenizer.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        vocab: dict[str, int] = tokenizer.get_vocab()
        #: Vocabulary string -> id, as the tokenizer lists it (special tokens too).
        self.strings = vocab
        special = set(getattr(tokenizer, "all_special_ids", []))
        byte_level = sum(t.startswith("Ġ") for t in vocab) > sum(t.startswith("▁") for t in vocab)
        self.byte_level = byte_level
        #: Per token id: its bytes without one word-start marker (``None`` for special tokens).
        self.cores: list[bytes | None] = [None] * (max(vocab.values()) + 1)
        self._by_bytes: dict[bytes, list[int]] = defaultdict(list)
        for token, token_id in vocab.items():
            if token_id in special:
                continue
            core = self.token_bytes(token)
            if core[:1] == b" ":
                core = core[1:]  # one word-start marker
            self.cores[token_id] = core
            if core and not is_filler(core):
                self._by_bytes[core].append(token_id)

    def token_bytes(self, token: str) -> bytes:
        """The bytes a vocabulary entry stands for."""
        if self.byte_level:
            decoder = _byte_decoder()
            if all(ch in decoder for ch in token):
                return bytes(decoder[ch] for ch in token)
            return token.encode("utf-8")  # added tokens are stored as plain text
        match = _BYTE_TOKEN.match(token)
        if match:
            return bytes([int(match.group(1), 16)])
        return token.replace("▁", " ").encode("utf-8")

    def exact(self, text: str) -> list[int]:
        """Ids of the tokens that are exactly ``text``, with or without a word-start marker."""
        return sorted(self._by_bytes.get(text.encode("utf-8"), ()))

    def entry(self, text: str) -> str:
        """How ``text`` is spelled as a vocabulary string: a leading space becomes the word-start
        marker (``▁`` in SentencePiece, ``Ġ`` in byte-level BPE)."""
        if self.byte_level:
            encoder = _byte_encoder()
            return "".join(encoder[b] for b in text.encode("utf-8"))
        return "▁" + text[1:] if text.startswith(" ") else text

    def is_single_token(self, word: str) -> bool:
        """Whether ``word`` is one vocabulary entry, with or without the word-start marker (the
        published notebooks' "single token" test)."""
        return self.entry(word) in self.strings or self.entry(" " + word) in self.strings

    def token_set(self, word: str, rule: str = "bytes", lang: str | None = None) -> TokenSet:
        """All tokens that can start ``word`` under ``rule`` (see the module docstring).

        Args:
            word: A word or a multi-word entry.
            rule: ``"bytes"`` or ``"wendler2024"``.
            lang: The word's language (``wendler2024`` adds a byte token for zh and ru words).

        Raises:
            LatentLangError: ``word`` is empty or the rule is unknown.
        """
        if not word or not word.strip():
            raise LatentLangError(f"token sets need a word, got {word!r}")
        if rule == "bytes":
            encoded = word.encode("utf-8")
            ids = {i for n in range(1, len(encoded) + 1) for i in self._by_bytes.get(encoded[:n], ())}
        elif rule == "wendler2024":
            ids = self._wendler_ids(word, lang)
        else:
            raise LatentLangError(f"unknown token-set rule {rule!r}; use one of: {', '.join(RULES)}")
        first = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        return TokenSet(word=word, ids=tuple(sorted(ids)), first_id=first[0] if first else None)

    def concept_set(self, words: tuple[str, ...], rule: str = "bytes", lang: str | None = None) -> TokenSet:
        """The union of the token sets of a concept's accepted words (its synonyms), named after
        the first word."""
        sets = [self.token_set(word, rule, lang) for word in words]
        ids = sorted({i for s in sets for i in s.ids})
        return TokenSet(word=words[0], ids=tuple(ids), first_id=sets[0].first_id)

    def _wendler_ids(self, word: str, lang: str | None) -> set[int]:
        """Character prefixes with and without the marker, plus zh/ru's first-byte token."""
        prefixes = [word[:n] for n in range(1, len(word) + 1)]
        spelled = {self.entry(p) for p in prefixes} | {self.entry(" " + p) for p in prefixes}
        ids = {self.strings[s] for s in spelled if s in self.strings}
        lead = next((ch.encode("utf-8")[0] for ch in word if ord(ch) > 127), None)
        if lang in WENDLER_BYTE_LANGUAGES and lead is not None:
            # The notebooks take the first "\\x" escape of the word's bytes: the first byte of its
            # first non-ASCII character.
            byte_entry = _byte_encoder()[lead] if self.byte_level else f"<0x{lead:02X}>"
            if byte_entry in self.strings:
                ids.add(self.strings[byte_entry])
        return ids


def is_filler(core: bytes) -> bool:
    """True for tokens that are only whitespace, punctuation or symbols (complete characters)."""
    text = core.decode("utf-8", errors="ignore")
    if len(text.encode("utf-8")) != len(core):
        return False  # a partial UTF-8 character: a byte-fallback piece of a letter
    return all(ch.isspace() or unicodedata.category(ch)[0] in "PSZC" for ch in text)


def find_collisions(
    sets: dict[str, TokenSet], pairs: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """Pairs of languages whose token sets for one concept share a token.

    A shared token cannot be credited to either language, so such concepts are dropped (e.g.
    French ``chat`` and English ``cat`` both start with ``c``).

    Args:
        sets: Language -> token set.
        pairs: The pairs that may not meet; ``None`` checks every pair (latentlang's rule; the
            published notebooks check only the target against English).
    """
    pairs = list(combinations(sets, 2)) if pairs is None else pairs
    return [(a, b) for a, b in pairs if set(sets[a].ids) & set(sets[b].ids)]


def resolve_overlaps(
    sets: dict[str, TokenSet], policy: str = "drop", pairs: list[tuple[str, str]] | None = None
) -> tuple[dict[str, TokenSet] | None, str]:
    """Apply an overlap policy to one concept's token sets.

    Args:
        sets: Language -> token set of the concept's word.
        policy: ``"drop"`` (published): a concept whose languages share any token is dropped.
            ``"exclude"``: shared tokens are removed from every set, so each language keeps
            only the tokens that are its own (狗 and 犬 keep themselves, losing only their shared
            first byte); a concept is dropped only if a set is left empty (猫 in zh and ja).
        pairs: The language pairs that may not share a token (``None``: every pair).

    Returns:
        The sets to measure (``None`` if the concept is dropped) and, if dropped, why.
    """
    clashes = find_collisions(sets, pairs)
    if not clashes:
        return sets, ""
    why = ", ".join(f"{a}/{b}" for a, b in clashes) + " share tokens"
    if policy == "drop":
        return None, why
    if policy != "exclude":
        raise LatentLangError(f"unknown overlap policy {policy!r}; use drop or exclude")
    kept = {}
    for lang, token_set in sets.items():
        others = {i for other, s in sets.items() if other != lang for i in s.ids}
        own = tuple(i for i in token_set.ids if i not in others)
        if not own:
            return None, f"every {lang} token is shared ({why})"
        kept[lang] = TokenSet(token_set.word, own, token_set.first_id)
    return kept, ""


def require_tokens(sets: dict[str, TokenSet], model_name: str) -> None:
    """Raise if any word has no token at all in this vocabulary."""
    for language, token_set in sets.items():
        if not token_set.ids:
            raise LatentLangError(
                f"the {language} word {token_set.word!r} has no token in the vocabulary of "
                f"{model_name}; remove it from the word list or use another model"
            )
