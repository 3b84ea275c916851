"""Language tags of single tokens and of a whole (tiny) vocabulary."""

import numpy as np
import pytest
from conftest import tiny_tokenizer

from latentlang.language.langid import LABELS, tag_text, tag_vocabulary
from latentlang.language.tokens import VocabIndex


@pytest.mark.parametrize(
    ("text", "label"),
    [
        # script alone
        ("개", "ko"),
        ("ねこ", "ja"),
        ("犬", "ja"),
        ("狗", "zh"),
        # dictionaries, with the web-share prior (English "dog" is not Danish "dog" = however)
        ("dog", "en"),
        ("the", "en"),
        ("chien", "fr"),
        ("Hund", "de"),
        ("Katze", "de"),
        ("perro", "es"),
        ("собака", "ru"),
        ("кошка", "ru"),
        ("كلب", "ar"),
        ("Straße", "de"),
        ("noche", "es"),
        # fastText for pieces no dictionary holds
        ("ançais", "fr"),
        # truly ambiguous between languages of one script
        ("de", "other"),
        ("猫", "other"),
        # no letters
        (",", "none"),
        ("123", "none"),
        ("  ", "none"),
        ("", "none"),
    ],
)
def test_tag_text(text, label):
    assert tag_text(text) == label


def test_tag_vocabulary_is_cached_and_covers_every_id(tmp_path):
    tok = tiny_tokenizer(["chien chat the dog собака 狗 ねこ 개 , . 123"] * 20)
    index = VocabIndex(tok)
    tags = tag_vocabulary(index, len(tok) + 5, cache=tmp_path)
    assert tags.tags.shape == (len(tok) + 5,)
    assert tags.of(len(tok) + 4) == "none"  # unembedding rows beyond the tokenizer
    assert tags.of(tok.convert_tokens_to_ids("Ġdog")) == "en"
    assert tags.of(tok.convert_tokens_to_ids("<pad>")) == "none"
    assert len(list(tmp_path.glob("*.npy"))) == 1
    again = tag_vocabulary(index, len(tok) + 5, cache=tmp_path)
    assert np.array_equal(again.tags, tags.tags) and again.labels == LABELS
