"""Per-word English routing: the rule on made-up readings, and the readings of dictionary words
at the position that predicts them on a tiny model."""

import numpy as np
import pandas as pd
import torch
from conftest import tiny_model, tiny_tokenizer

from latentlang import LensModel
from latentlang.core.batch import left_pad
from latentlang.language.segment import Dictionary
from latentlang.results.routing import routed_via_english, routing_shares, routing_table
from latentlang.studies.routing import read_words, word_items


def _curves(own, en, control):
    return np.stack([own, en, control], axis=-1)[None].astype(np.float32)


def test_english_must_lead_in_a_middle_layer_before_the_word_wins():
    layers = 8  # middle layers: 2..5
    en_first = _curves([0, 0, 0, 0.1, 0.1, 0.6, 0.8, 0.9], [0, 0.1, 0.3, 0.4, 0.2, 0.1, 0, 0], [0] * layers)
    assert routed_via_english(en_first).tolist() == [True]
    early_only = _curves(
        [0, 0.2, 0.5, 0.6, 0.6, 0.7, 0.8, 0.9], [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0, 0], [0] * layers
    )
    assert routed_via_english(early_only).tolist() == [False]  # English leads only at layer 0
    below_control = _curves([0] * 5 + [0.5] * 3, [0, 0, 0.2, 0.2, 0, 0, 0, 0], [0, 0, 0.3, 0.3, 0, 0, 0, 0])
    assert routed_via_english(below_control).tolist() == [False]
    tiny = _curves([0] * 5 + [0.5] * 3, [0, 0, 0.004, 0.004, 0, 0, 0, 0], [0, 0, 0.001, 0.001, 0, 0, 0, 0])
    assert routed_via_english(tiny).tolist() == [False]  # a lead of 0.3% over the control: noise
    assert routed_via_english(tiny, floor=0.001).tolist() == [True]
    after_win = _curves([0.9] * layers, [0, 0, 0.95, 0, 0, 0, 0, 0], [0] * layers)
    assert routed_via_english(after_win).tolist() == [True]  # it wins for good only from layer 3
    table = routing_table(
        pd.DataFrame({"lang": ["de"] * 2, "part": ["text"] * 2}), np.concatenate([en_first, early_only])
    )
    shares = routing_shares(table)
    assert shares[["routed", "n", "share"]].values.tolist() == [[1, 2, 0.5]] and 0 < shares["ci_low"][0] < 0.5
    repeated = routing_table(
        pd.DataFrame({"text": 0, "lang": "de", "part": "text", "word": ["Hund", "Hund", "Katze"]}),
        np.concatenate([en_first, en_first, early_only]),
    )
    assert routing_shares(repeated)["routed"].tolist() == [2]
    assert routing_shares(repeated, first=True)[["routed", "n"]].values.tolist() == [[1, 2]]


def test_the_control_is_disjoint_and_closest_in_size_to_the_english_set():
    from latentlang.studies.routing import _control

    concepts = ["cat", "dog", "sun", "tree"]
    sets = {"cat": {1, 2, 3}, "dog": {4, 5}, "sun": {6}, "tree": {7, 8, 9, 5}}
    # from "dog", half the list away: "tree" (shares 5), "cat" (3 tokens), "sun" (1 token)
    assert _control(concepts, ("dog",), sets, {4, 5}, 1) == {6}
    assert _control(concepts, ("dog",), sets, {4, 5}, 3) == {1, 2, 3}
    assert _control(concepts, ("dog",), sets, {4, 5}, 2) == {1, 2, 3}  # as close: the first
    assert _control(concepts, ("dog",), sets, {1, 4, 5, 6}, 2) is None


def test_words_are_read_where_they_are_predicted():
    corpus = ["der Hund und die Katze", "the dog and the cat", "le chien et le chat"] * 5
    tok = tiny_tokenizer(corpus)
    lm = LensModel.from_hf(tiny_model("llama", vocab_size=len(tok)), tok)
    dictionary = Dictionary(
        {("de", "hund"): ("dog",), ("de", "katze"): ("cat",), ("fr", "chien"): ("dog",)}, 1
    )
    ids = tok("der Hund und die Katze")["input_ids"]
    items = word_items(lm, [ids], [3], ["de"], dictionary)
    assert [(i.word.text, i.part) for i in items] == [("Hund", "prompt"), ("Katze", "text")]
    for item in items:
        own, en, control = (set(s) for s in item.sets)
        assert own and en and control and not own & en and not control & (own | en)
        assert tok.decode(ids[item.position + 1]).strip().startswith(item.word.text[:1])
    probs = read_words(lm, [ids], items)
    for k, item in enumerate(items):  # what the lens reads at that position of the text alone
        prefix = left_pad([ids[: item.position + 1]], 0, lm.device)
        alone = lm.lens.readout(lm.capture(prefix).residuals[:, :, -1], None, top_k=1)
        full = torch.log_softmax(lm.lens.logits(lm.capture(prefix).residuals[0, :, -1]), -1).exp()
        np.testing.assert_allclose(
            probs[k, :, 0], full[:, list(item.sets[0])].sum(-1).detach().numpy(), atol=1e-5
        )
        assert alone.entropy_bits.shape[1] == probs.shape[1]


def test_trace_summaries_and_switch_points():
    from latentlang.results.traces import middle_languages, switch_points, trace_table

    labels = ["de", "en", "zh", "other", "none"]
    langs = ["de", "none", "de", "en", "other", "en", "de"]
    assert switch_points(langs, min_run=1) == [(3, "de", "en"), (6, "en", "de")]
    assert switch_points(langs) == [(3, "de", "en")]  # the last "de" is one token: no switch back
    # a one-token run is no switch, and it does not break the run around it
    assert switch_points(["de", "de", "fi", "de", "en", "en"]) == [(4, "de", "en")]
    assert switch_points(["en", "de", "de", "de"]) == []  # one stray token opens no language
    # 8 layers: the middle ones are 2..5; position 0 decodes English there, position 1 German
    top = np.full((1, 3, 8), 3)
    top[0, 0, 2:6] = [1, 1, 1, 0]
    top[0, 1, 2:6] = [0, 0, 4, 4]
    assert middle_languages(top, labels).tolist() == [["en", "de", "other"]]
    token_lang = np.array([[0, 0, 1]])  # de, de, en: one English token
    texts = pd.DataFrame({"start": [10], "lang": [""], "prompt": [""]})
    row = trace_table(token_lang, top, texts, labels, np.array([0]), min_run=1).iloc[0]
    assert row["lang"] == "de" and row["n_positions"] == 3
    assert (row["middle_en"], row["middle_own"], row["middle_other"]) == (1 / 3, 1 / 3, 1 / 3)
    assert row["n_switches"] == 1 and row["switch_points"] == "12:de>en"
    assert trace_table(token_lang, top, texts, labels, np.array([0])).iloc[0]["n_switches"] == 0
