"""Per word of a text: does the lens decode the word's English translation before the word?

The words of each text (:func:`latentlang.language.segment.split_words`) that a bilingual
dictionary holds are read at the position that predicts their first token, at every layer:
P(the word's own token set), P(its English translation's set, without the tokens that also begin
the word itself, so copying is not credited to English) and P(a control: another concept's
English set, disjoint from both and the closest in size to the English set). A word is *routed
via English* when, in some middle layer (the middle half of the depth) before the word wins for
good (its own set the most probable of the three from that layer to the last), English beats
both the control and the word's own set. English words themselves
are not read (their translation is the word).
"""

from dataclasses import dataclass

import numpy as np
import torch

from latentlang.core.batch import left_pad
from latentlang.core.lens import TokenSetIndex
from latentlang.core.model import LensModel
from latentlang.language.segment import Dictionary, Word, split_words


@dataclass(frozen=True)
class WordItem:
    """A dictionary word of a text, where it is read and its three token sets."""

    text: int
    part: str
    word: Word
    english: tuple[str, ...]
    position: int
    sets: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def word_items(
    lm: LensModel,
    sequences: list[list[int]],
    starts: list[int],
    langs: list[str],
    dictionary: Dictionary,
) -> list[WordItem]:
    """The dictionary words of each token sequence with their sets (own, English, control).

    Args:
        lm: The model (its tokenizer and vocabulary).
        sequences: Each text's token ids (prompt and generation).
        starts: Per text, the first token of the part generated (0 for a given text): words
            before it are in the ``"prompt"`` part, the others in ``"text"``.
        langs: Each text's language, if known (``""``: by the dictionary and script).
        dictionary: Where words are looked up.
    """
    concepts = sorted({en for values in dictionary.entries.values() for en in values})
    english_sets = {en: set(lm.vocab.concept_set((en,), "bytes", "en").ids) for en in concepts}
    items = []
    for t, (ids, start, lang) in enumerate(zip(sequences, starts, langs)):
        tokens = [lm.tokenizer.decode([i]) for i in ids]
        for word in split_words(tokens, dictionary, lang or None):
            english = dictionary.english(word.text, word.lang)
            if not english or word.lang == "en" or word.start == 0:
                continue
            own = set(lm.vocab.concept_set((word.text,), "bytes", word.lang).ids)
            en_set = set().union(*(english_sets.get(e, set()) for e in english)) - own
            control = _control(concepts, english, english_sets, own | en_set, len(en_set))
            if not own or not en_set or control is None:
                continue
            part = "prompt" if word.start < start else "text"
            sets = (tuple(sorted(own)), tuple(sorted(en_set)), tuple(sorted(control)))
            items.append(WordItem(t, part, word, english, word.start - 1, sets))
    return items


def _control(concepts, english, english_sets, taken: set, size: int) -> set | None:
    """Another concept's English set sharing no token with ``taken``: of those, the one closest
    in size to the English set (``size``), the first such starting half the list away, so that a
    larger set (more short prefixes) cannot make English look ahead of its control."""
    i = concepts.index(english[0]) if english[0] in concepts else 0
    order = [concepts[(i + len(concepts) // 2 + step) % len(concepts)] for step in range(len(concepts))]
    usable = [c for c in order if c not in english and english_sets[c] and not english_sets[c] & taken]
    if not usable:
        return None
    return english_sets[min(usable, key=lambda c: abs(len(english_sets[c]) - size))]


@torch.no_grad()
def read_words(lm: LensModel, sequences: list[list[int]], items: list[WordItem]) -> np.ndarray:
    """P(own), P(English), P(control) per word and layer: ``[word, layer, 3]``, one forward pass
    per text."""
    probs = np.zeros((len(items), lm.n_layers + 1, 3), np.float32)
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else 0
    for t in sorted({item.text for item in items}):
        mine = [k for k, item in enumerate(items) if item.text == t]
        batch = left_pad([sequences[t]], pad, lm.device)
        offset = batch.input_ids.shape[1] - len(sequences[t])
        positions = torch.tensor([[offset + items[k].position for k in mine]], device=lm.device)
        residuals = lm.capture(batch, positions).residuals[0].transpose(0, 1)  # [word, layer, d]
        index = TokenSetIndex.from_lists([[list(s) for s in items[k].sets] for k in mine], lm.device)
        readout = lm.lens.readout(residuals, index, top_k=1)
        probs[mine] = readout.set_logprob.exp().cpu().numpy()
    return probs
