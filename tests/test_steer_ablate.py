"""Steering and ablation: the edits on tiny models of several architectures (α = 0 changes
nothing, a token's unembedding row raises that token, an ablation leaves no component along the
ablated rows), backends and padded batches, and both studies end to end."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_model

from latentlang import LensModel
from latentlang.core.batch import left_pad
from latentlang.core.edits import Add, ProjectOut, edited
from latentlang.errors import LatentLangError
from latentlang.language.langid import text_language
from latentlang.language.refusal import translation_answer
from latentlang.studies.ablate import AblateConfig, ablate_batch, ablate_items, choose_control, run_ablate
from latentlang.studies.steer import (
    SteerConfig,
    language_vector,
    run_steer,
    steer_batch,
    steer_items,
    vector_texts,
)

IDS = [[5, 6, 7, 9, 11], [3, 4, 9]]


@pytest.fixture(scope="module", params=["llama", "gemma3", "gpt2"])
def lm(request):
    return LensModel.from_hf(tiny_model(request.param), None)


def _probs(lm, ids=IDS):
    return lm.capture(left_pad(ids, 0, lm.device)).final_logits.softmax(-1)


def test_alpha_zero_changes_nothing(lm):
    before = _probs(lm)
    vector = torch.randn(lm.parts.unembed.weight.shape[1]) * 100
    for positions in (None, "all"):
        for layer in range(lm.n_layers + 1):
            with edited(lm, [Add([layer], vector, 0.0)], positions=positions):
                assert float((_probs(lm) - before).abs().max()) <= 1e-5, (layer, positions)
        with edited(lm, [Add([1], vector, 1.0)], positions=positions):  # not vacuous
            assert float((_probs(lm) - before).abs().max()) > 1e-4


def test_adding_a_tokens_unembedding_row_raises_it(lm):
    before = _probs(lm)
    for token in (7, 42, 71):
        row = lm.parts.unembed.weight[token].detach()
        with edited(lm, [Add([lm.n_layers], row, 3.0)]):
            after = _probs(lm)
        assert (after[:, token] > before[:, token]).all(), token


def test_every_position_is_edited_with_all_and_only_the_last_without():
    lm = LensModel.from_hf(tiny_model("llama"), None)
    batch = left_pad(IDS, 0, lm.device)
    positions = torch.arange(batch.input_ids.shape[1]).expand(2, -1)
    plain = lm.capture(batch, positions).residuals
    vector = torch.ones(lm.parts.unembed.weight.shape[1])
    with edited(lm, [Add([0], vector)], positions="all"):
        torch.testing.assert_close(lm.capture(batch, positions).residuals[:, 0], plain[:, 0] + 1)
    with edited(lm, [Add([0], vector)]):
        edited_last = lm.capture(batch, positions).residuals[:, 0]
    torch.testing.assert_close(edited_last[:, -1], plain[:, 0, -1] + 1)
    torch.testing.assert_close(edited_last[:, :-1], plain[:, 0, :-1])
    with pytest.raises(LatentLangError, match="'all'"), edited(lm, [], positions="first"):
        pass


def test_ablation_removes_the_rows_component_exactly(lm):
    """After projecting rows out from layer j on, the residual at j and later has no component
    along them (each batch row its own subspace)."""
    weight = lm.parts.unembed.weight.detach()
    rows = [weight[[3, 17, 40]], weight[[8]]]
    batch = left_pad(IDS, 0, lm.device)
    j = 1
    with edited(lm, [ProjectOut(list(range(j, lm.n_layers + 1)), rows)], positions="all"):
        residuals = lm.capture(batch, torch.arange(5).expand(2, -1)).residuals
    for b, own in enumerate(rows):
        dots = torch.einsum("lpd,kd->lpk", residuals[b, j:], own)
        scale = residuals[b, j:].norm(dim=-1).max() * own.norm(dim=-1).max()
        assert float(dots.abs().max() / scale) < 1e-5
    assert float(torch.einsum("pd,kd->pk", residuals[0, 0], rows[0]).abs().max()) > 1e-3  # layer 0 untouched


def test_zero_or_dependent_directions_project_nothing_more():
    h = torch.tensor([[2.0, 3.0, 5.0], [1.0, 1.0, 1.0]])
    edit = ProjectOut([1], [torch.zeros(2, 3), torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])])
    torch.testing.assert_close(edit(h, 1), torch.tensor([[2.0, 3.0, 5.0], [0.0, 1.0, 1.0]]))


def test_the_lens_basis_leaves_ablated_tokens_with_the_mean_rows_logit():
    """With an RMSNorm, projecting out (row − mean row) · gain at the last layer makes each ablated
    token's logit the mean row's."""
    from latentlang.studies.ablate import unembedding_rows

    lm = LensModel.from_hf(tiny_model("llama"), None)
    tokens = (4, 9, 30)
    rows = unembedding_rows(lm, "lens")(tokens)
    batch = left_pad(IDS, 0, lm.device)
    with edited(lm, [ProjectOut([lm.n_layers], rows)]):
        logits = lm.capture(batch).final_logits
        h = lm.capture(batch).residuals[:, -1, -1]
    mean_logit = lm.lens.normed(h) @ lm.parts.unembed.weight.float().mean(0)
    torch.testing.assert_close(logits[:, list(tokens)], mean_logit[:, None].expand(-1, 3), atol=1e-4, rtol=0)


def test_padded_batches_and_backends_agree(tiny_dir, tmp_path, monkeypatch):
    """Steering and ablation read by hf and TransformerLens agree, and each prompt of a left-padded
    batch gives what it gives alone."""
    from latentlang import load_model

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    ids = [[5, 6, 7, 9, 11, 4], [3, 4, 9]]
    out = {}
    for backend in ("hf", "transformer_lens"):
        lm = load_model(str(tiny_dir), backend=backend, device="cpu", dtype="float32")
        weight = lm.parts.unembed.weight.detach()
        edits = [
            Add([2], torch.stack([weight[5], weight[9]]), 2.0),
            ProjectOut([1, 2], [weight[[3]], weight[[8, 6]]]),
        ]
        with edited(lm, edits, positions="all"):
            out[backend] = lm.capture(left_pad(ids, 0, lm.device)).final_logits
        if backend == "hf":
            for row in range(2):
                alone = [
                    Add([2], weight[[5, 9][row]][None], 2.0),
                    ProjectOut([1, 2], [weight[[[3], [8, 6]][row]]]),
                ]
                with edited(lm, alone, positions="all"):
                    single = lm.capture(left_pad([ids[row]], 0, lm.device)).final_logits
                torch.testing.assert_close(single[0], out["hf"][row], atol=1e-4, rtol=0)
    torch.testing.assert_close(out["transformer_lens"], out["hf"], atol=1e-4, rtol=0)


def test_language_vectors_leave_out_the_prompts_own_concept():
    frame = pd.DataFrame(
        {
            "concept": ["dog", "cat", "dog", "cat", "sun"],
            "lang": ["fr", "fr", "zh", "zh", "zh"],
            "text": list("abcde"),
        }
    )
    residuals = torch.arange(5.0)[:, None, None].expand(5, 2, 3)
    torch.testing.assert_close(
        language_vector(residuals, frame, ("fr", "zh"))[0], torch.full((3,), 3.0 - 0.5)
    )
    torch.testing.assert_close(
        language_vector(residuals, frame, ("fr", "zh"), "dog")[0], torch.full((3,), 3.5 - 1)
    )


def test_vector_texts_from_a_csv_skip_and_count_bad_rows(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text(
        'lang,text\nfr,"Le chien dort."\nfr,"Le chat mange."\nzh,狗在睡觉。\nzh,\nzh,猫在吃饭。\nde,Hund\n'
    )
    frame, skipped = vector_texts(str(path), ("fr", "zh"))
    assert len(frame) == 4 and skipped == 1 and set(frame["lang"]) == {"fr", "zh"}
    with pytest.raises(LatentLangError, match="fewer than 2 in ko"):
        vector_texts(str(path), ("fr", "ko"))
    sentences, _ = vector_texts("sentences", ("fr", "zh"))
    assert (sentences.groupby("lang").size() > 100).all()


def test_the_language_of_a_text():
    assert text_language("Der Hund schläft heute im Garten unter dem Baum.") == "de"
    assert text_language("Le chien dort dans le jardin sous l'arbre.") == "fr"
    assert text_language("Собака спит в саду.") == "ru"
    assert text_language("犬が庭で寝ています。") == "ja"
    assert text_language("狗在花园里睡觉。") == "zh"
    assert text_language(" 123 !?\n") == "none"


def test_the_steering_study(word_lm, words_csv, tmp_path):
    config = SteerConfig(
        prompts="en:fr", toward="zh", texts="words", words=str(words_csv), n_shots=1,
        alphas=[0.0, 2.0], layers=[1, 2], generate=2, out=str(tmp_path / "steer"),
    )  # fmt: skip
    result = run_steer(config, word_lm, progress=False)
    n = len(result.prompts)
    assert result.probs.shape == (n, 2, 2, 2) and result.mass.shape[-1] == len(word_lm.languages.labels)
    np.testing.assert_allclose(
        result.probs[:, 0], np.broadcast_to(result.base_probs[:, None], (n, 2, 2)), atol=1e-5
    )
    assert not np.allclose(result.probs[:, 1], result.probs[:, 0])
    np.testing.assert_allclose(result.mass.sum(-1), 1, atol=1e-4)
    assert (result.texts[:, 0] == result.base_text[:, None]).all() and (result.text_lang != "").all()
    summary = result.summary()
    assert list(summary[["alpha", "layer"]].itertuples(index=False, name=None)) == [
        (0, 1),
        (0, 2),
        (2, 1),
        (2, 2),
    ]
    assert {"p_concept_fr_ci_low", "delta_p_concept_zh", "mass_zh", "text_zh_ci_high"} <= set(summary.columns)
    hits = result.answer_is_word("fr")
    answers = [translation_answer(t) for t in result.texts[:, 0, 0]]
    assert hits[:, 0, 0].tolist() == [
        a.casefold() == w.casefold() for a, w in zip(answers, result.prompts["words_fr"])
    ]
    np.testing.assert_allclose(summary["answer_is_word_fr"], hits.reshape(len(hits), -1).mean(0))
    again = run_steer(config, word_lm, progress=False)  # resumed from the run folder
    np.testing.assert_array_equal(again.probs, result.probs)
    # A batch of the prompts in another order gives each prompt the same numbers.
    work = steer_items(config, word_lm)
    work.meta |= {"layers": [1, 2], "alphas": [0.0, 2.0], "positions": "last", "generate": 0}
    reversed_part = steer_batch(word_lm, work, [1, 0])
    np.testing.assert_allclose(reversed_part.probs[::-1], result.probs[:2], atol=1e-5)


def test_a_translation_answer_ends_at_its_closing_quote():
    assert translation_answer('狗"\nDeutsch: "Katze') == "狗" and translation_answer(" chien\nx") == "chien"


def test_the_ablated_directions_can_leave_the_targets_span(word_lm):
    from latentlang.studies.ablate import _beside, first_tokens

    directions, target = torch.randn(3, 8), torch.randn(2, 8)
    assert float((_beside(directions, target) @ target.T).abs().max()) < 1e-5
    spelled = {
        word_lm.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in (" dog", "dog", " cat", "cat")
    }
    assert set(first_tokens(word_lm, ("dog", "cat"))) == spelled and len(spelled) > 1


def test_the_ablation_study_and_its_control(word_lm, words_csv, tmp_path):
    assert choose_control(0, [(1, 2), (3,), (4, 5), (1, 6)], [(9,), (8,), (7,), (6,)]) == 2
    assert choose_control(0, [(1,), (1,)], [(9,), (8,)]) is None
    config = AblateConfig(
        prompts="fr:zh", ablate="en", words=str(words_csv), n_shots=1, out=str(tmp_path / "ab")
    )
    result = run_ablate(config, word_lm, progress=False)
    n = len(result.prompts)
    assert result.probs.shape == (n, word_lm.n_layers + 1, 2, 2)
    assert (result.prompts["concept"] != result.prompts["control"]).all()
    summary = result.summary()
    np.testing.assert_allclose(
        summary["delta_target"], summary["p_target_ablated"] - summary["p_target_control"], atol=1e-6
    )
    assert not np.allclose(result.probs[:, -1, 0, 1], result.base_probs[:, 1], atol=1e-5)
    work = ablate_items(config, word_lm)
    part = ablate_batch(word_lm, work, [1, 0])
    np.testing.assert_allclose(part.probs[::-1], result.probs[:2], atol=1e-5)


def test_the_commands(tiny_dir, words_csv, tmp_path, monkeypatch, capsys):
    from latentlang.cli import main

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    common = [
        "--quiet",
        "--model",
        str(tiny_dir),
        "--words",
        str(words_csv),
        "--n-shots",
        "1",
        "--layers",
        "1,2",
    ]
    out = tmp_path / "steer"
    steer = [
        "steer",
        *common,
        "--prompts",
        "en:fr",
        "--toward",
        "zh",
        "--texts",
        "words",
        "--alphas",
        "0,1.5",
    ]
    assert main([*steer, "--out", str(out)]) == 0
    table = pd.read_csv(out / "steer.csv")
    assert table["alpha"].tolist() == [0, 0, 1.5, 1.5] and (out / "steer.png").is_file()
    assert main(["ablate", *common, "--prompts", "fr:zh", "--out", str(tmp_path / "ab")]) == 0
    table = pd.read_csv(tmp_path / "ab" / "ablate.csv")
    assert table["layer"].tolist() == [1, 2] and {"delta_target_ci_low", "p_target_control"} <= set(
        table.columns
    )
    assert "difference" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main([*steer, "--alphas", "0,strong"])
    assert "comma-separated floats" in capsys.readouterr().err
    assert main(["steer", *common, "--prompts", "en:fr", "--toward", "fr"]) == 2
