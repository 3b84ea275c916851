"""Token sets: which vocabulary tokens count as "the model is saying this word".

A model starting to write ``chien`` may emit ``▁chien``, ``chien``, ``ch`` or ``c``; starting ``狗`` it
may emit ``狗``, ``▁狗`` or, in a byte-fallback tokenizer, the byte ``<0xE7>``. The token set of a word
is every vocabulary token whose bytes, after removing one word-start marker (``▁`` in
SentencePiece vocabularies, ``Ġ``/space in byte-level BPE), are a non-empty prefix of the word's
UTF-8 bytes (Wendler et al., 2024). Tokens that are empty after the marker (the bare ``▁``),
whitespace or punctuation are never members: a naive "first token of ' 狗'" in Gemma's tokenizer
is the bare ``▁``, which would make Chinese absorb every space's probability.

Everything works on bytes, so byte-level BPE (GPT-2, Llama-3, Qwen) and SentencePiece with byte
fallback (Llama-2, Gemma, Mistral) are handled by the same code.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations

from latentlang.errors import LatentLangError

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass(frozen=True)
class TokenSet:
    """The tokens that start ``word`` in one tokenizer.

    Attributes:
        word: The word.
        ids: Sorted vocabulary ids of every token that can begin it.
        first_id: The first token when the tokenizer encodes the word on its own (the "strict"
            first-token choice of some papers; always a member of ``ids`` when it is a prefix).
    """

    word: str
    ids: tuple[int, ...]
    first_id: int | None


@lru_cache(maxsize=256)
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

    def token_set(self, word: str) -> TokenSet:
        """All tokens that can start ``word`` (see the module docstring).

        Raises:
            LatentLangError: ``word`` is empty or contains whitespace.
        """
        if not word or any(ch.isspace() for ch in word):
            raise LatentLangError(f"token sets need a single word without spaces, got {word!r}")
        encoded = word.encode("utf-8")
        ids = sorted({i for n in range(1, len(encoded) + 1) for i in self._by_bytes.get(encoded[:n], ())})
        first = self.tokenizer(word, add_special_tokens=False)["input_ids"]
        return TokenSet(word=word, ids=tuple(ids), first_id=first[0] if first else None)


def is_filler(core: bytes) -> bool:
    """True for tokens that are only whitespace, punctuation or symbols (complete characters)."""
    text = core.decode("utf-8", errors="ignore")
    if len(text.encode("utf-8")) != len(core):
        return False  # a partial UTF-8 character: a byte-fallback piece of a letter
    return all(ch.isspace() or unicodedata.category(ch)[0] in "PSZC" for ch in text)


def find_collisions(sets: dict[str, TokenSet]) -> list[tuple[str, str]]:
    """Pairs of languages whose token sets for one concept share a token.

    A shared token cannot be credited to either language, so the published method drops such
    concepts (e.g. French ``chat`` and English ``cat`` both start with ``c``).
    """
    return [(a, b) for a, b in combinations(sets, 2) if set(sets[a].ids) & set(sets[b].ids)]


def resolve_overlaps(
    sets: dict[str, TokenSet], policy: str = "drop"
) -> tuple[dict[str, TokenSet] | None, str]:
    """Apply an overlap policy to one concept's token sets.

    Args:
        sets: Language -> token set of the concept's word.
        policy: ``"drop"`` (published): a concept whose languages share any token is dropped.
            ``"exclude"``: shared tokens are removed from every set, so each language keeps
            only the tokens that are its own (狗 and 犬 keep themselves, losing only their shared
            first byte); a concept is dropped only if a set is left empty (猫 in zh and ja).

    Returns:
        The sets to measure (``None`` if the concept is dropped) and, if dropped, why.
    """
    clashes = find_collisions(sets)
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
